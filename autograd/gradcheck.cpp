// gradcheck.cpp: the finite-difference gradient checker (see gradcheck.h).
#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/node.h"

namespace eng {

static double weighted_sum(const Tensor& y, const std::vector<float>& w) {
    std::vector<float> v = y.to_vector();
    double s = 0;
    for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * double(w[i]);
    return s;
}

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs_in, GradcheckOptions opt) {
    // Work on private packed copies so perturbations never touch the caller's data.
    std::vector<Tensor> inputs;
    for (const Tensor& t : inputs_in) {
        Tensor c = t.clone();
        if (t.requires_grad()) c.set_requires_grad(true);
        inputs.push_back(c);
    }
    Tensor y = fn(inputs);
    Generator gen(opt.seed);
    std::vector<float> w = uniform(y.shape(), 0.5f, 1.5f, &gen).to_vector();
    for (size_t i = 0; i < w.size(); ++i)
        if (gen.uniform() < 0.5f) w[i] = -w[i];
    Tensor wt = from_vector(w, y.shape(), TensorOptions{DType::f32, y.device()});
    GradcheckResult result;
    ENG_CHECK(y.requires_grad(), "gradcheck: the function's output does not require grad");
    autograd::backward(y, wt);
    std::ostringstream report;
    int reported = 0;
    for (size_t k = 0; k < inputs.size(); ++k) {
        Tensor& x = inputs[k];
        if (!x.requires_grad()) continue;
        Tensor g = x.grad();
        std::vector<float> analytic = g.defined() ? g.to_vector() : std::vector<float>(size_t(x.numel()), 0.0f);
        int64_t n = x.numel();
        int64_t step = std::max<int64_t>(1, n / opt.max_checks_per_input);
        float* p = x.data<float>();  // CPU, packed (clone)
        ENG_CHECK(x.device() == Device::CPU, "gradcheck runs on CPU tensors");
        for (int64_t j = 0; j < n; j += step) {
            float orig = p[j];
            // The step actually taken: x ± eps rounded to float, which for
            // |x| ≈ 100 differs from 2·eps by about 1 % (a bias that hides errors).
            const float up = float(orig + opt.eps), down = float(orig - opt.eps);
            p[j] = up;
            double plus;
            double minus;
            {
                NoGradGuard ng;
                plus = weighted_sum(fn(inputs), w);
                p[j] = down;
                minus = weighted_sum(fn(inputs), w);
            }
            p[j] = orig;
            double numeric = (plus - minus) / (double(up) - double(down));
            double a = analytic[size_t(j)];
            double err = std::fabs(a - numeric);
            result.max_abs_error = std::max(result.max_abs_error, err);
            if (!(err <= opt.atol + opt.rtol * std::fabs(numeric))) {
                result.ok = false;
                if (reported++ < 8)
                    report << "input " << k << " " << shape_str(x.shape()) << " element " << j << ": autograd " << a
                           << " vs numeric " << numeric << "\n";
            }
        }
    }
    result.report = report.str();
    return result;
}

}  // namespace eng
