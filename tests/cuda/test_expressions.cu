// Every element-wise node on the GPU against the same expression on the CPU: bit-identical in
// fp32 and fp16 (the same evaluator code runs on both; --fmad=false keeps the roundings the
// same), for the packet path, the unaligned path, and broadcast rows short and long (runs of 256
// and more, and more rows than a grid's y dimension holds; runs of 1 to 255 over many rows).
#include <strata/cuda.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_tensor;

namespace {

template <class T, std::size_t R>
bool bit_identical(const Tensor<T, R>& cpu_result, const Tensor<T, R, cuda>& gpu_result) {
  const auto g = to_host(gpu_result);
  if (g.shape() != cpu_result.shape()) return false;
  return std::memcmp(g.data(), cpu_result.data(), static_cast<std::size_t>(g.bytes())) == 0;
}

// Runs f on host tensors and on device copies of them; the results must match bit for bit.
template <class F>
void check_unary(F f, double lo, double hi, std::int64_t n = 100003) {
  auto a = random_tensor<float>(Shape{n}, 7, lo, hi);
  auto da = to_device(a);
  Tensor<float, 1> c = f(a);
  Tensor<float, 1, cuda> g = f(da);
  CHECK(bit_identical(c, g));
}

template <class F>
void check_binary(F f, std::int64_t n = 100003) {
  auto a = random_tensor<float>(Shape{n}, 8, -2, 2), b = random_tensor<float>(Shape{n}, 9, 0.5, 3);
  auto da = to_device(a), db = to_device(b);
  Tensor<float, 1> c = f(a, b);
  Tensor<float, 1, cuda> g = f(da, db);
  CHECK(bit_identical(c, g));
}

}  // namespace

TEST_CASE("arithmetic on the GPU is bit-identical to the CPU", "[cuda][elementwise]") {
  check_binary([](auto& a, auto& b) { return a + b; });
  check_binary([](auto& a, auto& b) { return a - b; });
  check_binary([](auto& a, auto& b) { return a * b; });
  check_binary([](auto& a, auto& b) { return a / b; });
  check_binary([](auto& a, auto& b) { return a * b + a * 2 - b / 3; });
  check_unary([](auto& a) { return -a + 1.5f; }, -1, 1);
  check_unary([](auto& a) { return 2.0 / a; }, 0.5, 4);
}

TEST_CASE("functions on the GPU are bit-identical to the CPU", "[cuda][elementwise]") {
  check_unary([](auto& a) { return exp(a); }, -90, 90);
  check_unary([](auto& a) { return log(a); }, 1e-30, 1e30);
  check_unary([](auto& a) { return tanh(a); }, -10, 10);
  check_unary([](auto& a) { return sigmoid(a); }, -50, 50);
  check_unary([](auto& a) { return sqrt(a); }, 0, 1e6);
  check_unary([](auto& a) { return abs(a) + square(a) + sign(a); }, -3, 3);
  check_unary([](auto& a) { return clamp(max(a, -0.5f), -1, 0.25f) + min(a, 0.1f); }, -1, 1);
  check_binary([](auto& a, auto& b) { return max(a, b) - min(a, b); });
}

TEST_CASE("the packet path, the unaligned path and ragged tails agree with the CPU", "[cuda][elementwise]") {
  for (std::int64_t n : {1, 3, 4, 5, 255, 256, 1023, 1 << 20, (1 << 20) + 3}) {
    auto a = random_tensor<float>(Shape{n + 1}, 10), b = random_tensor<float>(Shape{n + 1}, 11);
    auto da = to_device(a), db = to_device(b);
    // Offset by one element: 4-byte aligned only, so the scalar kernel runs.
    Tensor<float, 1> c = a.slice(1, n) * b.slice(1, n) + 1;
    Tensor<float, 1, cuda> g = da.slice(1, n) * db.slice(1, n) + 1;
    INFO("n = " << n);
    CHECK(bit_identical(c, g));
    Tensor<float, 1> c2 = a.slice(0, n) * b.slice(0, n) + 1;  // aligned: packets of 4
    Tensor<float, 1, cuda> g2 = da.slice(0, n) * db.slice(0, n) + 1;
    CHECK(bit_identical(c2, g2));
  }
}

TEST_CASE("broadcasts on the GPU match the CPU for short and long rows", "[cuda][broadcast]") {
  for (const Shape<4>& s : {Shape{4, 16, 7, 7}, Shape{2, 8, 32, 33}, Shape{1, 3, 1, 5}}) {
    auto x = random_tensor<float>(s, 12);
    auto bias = random_tensor<float>(Shape{s[1]}, 13);
    auto row = random_tensor<float>(Shape{s[3]}, 14);
    auto plane = random_tensor<float>(Shape{s[0], s[2]}, 15);
    auto dx = to_device(x);
    auto dbias = to_device(bias);
    auto drow = to_device(row);
    auto dplane = to_device(plane);
    Tensor<float, 4> c = x * broadcast(bias, axes<1>, s) + broadcast(row, axes<3>, s) - broadcast(plane, axes<0, 2>, s);
    Tensor<float, 4, cuda> g =
        dx * broadcast(dbias, axes<1>, s) + broadcast(drow, axes<3>, s) - broadcast(dplane, axes<0, 2>, s);
    INFO("shape " << s.to_string());
    CHECK(bit_identical(c, g));
  }
}

TEST_CASE("broadcast rows of 256 values and more, and more rows than a grid's y dimension", "[cuda][broadcast]") {
  // A contiguous run of 300 (the broadcast is along the last axis): the row kernel, assign_rows.
  {
    const Shape<4> s{2, 3, 5, 300};
    auto x = random_tensor<float>(s, 21);
    auto row = random_tensor<float>(Shape{s[3]}, 22);
    auto dx = to_device(x);
    auto drow = to_device(row);
    Tensor<float, 4> c = x * 2 - broadcast(row, axes<3>, s);
    Tensor<float, 4, cuda> g = dx * 2 - broadcast(drow, axes<3>, s);
    CHECK(bit_identical(c, g));
  }
  // 70,000 rows of 256: past the 65,535 blocks a grid's y dimension holds (its stride loop).
  {
    const Shape<2> s{70000, 256};
    auto x = random_tensor<float>(s, 23);
    auto row = random_tensor<float>(Shape{s[1]}, 24);
    auto dx = to_device(x);
    auto drow = to_device(row);
    Tensor<float, 2> c = x + broadcast(row, axes<1>, s);
    Tensor<float, 2, cuda> g = dx + broadcast(drow, axes<1>, s);
    CHECK(bit_identical(c, g));
  }
}

TEST_CASE("casts, half precision and double on the GPU match the CPU", "[cuda][cast][half]") {
  auto a = random_tensor<float>(Shape{3, 70001}, 16, -70000, 70000);  // includes fp16 overflow
  auto da = to_device(a);
  Tensor<strata::half, 2> ch = cast<strata::half>(a);
  Tensor<strata::half, 2, cuda> gh = cast<strata::half>(da);
  CHECK(bit_identical(ch, gh));
  Tensor<strata::half, 2> ch2 = ch * ch + exp(ch * 0.0001f);
  Tensor<strata::half, 2, cuda> gh2 = gh * gh + exp(gh * 0.0001f);
  CHECK(bit_identical(ch2, gh2));
  Tensor<double, 2> cd = cast<double>(a) * 3.0 + 1.0;
  Tensor<double, 2, cuda> gd = cast<double>(da) * 3.0 + 1.0;
  CHECK(bit_identical(cd, gd));
  Tensor<std::int32_t, 2> ci = cast<std::int32_t>(a);
  Tensor<std::int32_t, 2, cuda> gi = cast<std::int32_t>(da);
  CHECK(bit_identical(ci, gi));
}

TEST_CASE("the GPU converts every half to float, and floats to half, as the CPU does", "[cuda][half]") {
  // All 65,536 half patterns (NaN payloads, subnormals, ±0, ±Inf) to float.
  Tensor<strata::half, 1> all(65536);
  for (std::int64_t i = 0; i < 65536; ++i) all(i) = strata::half::from_bits(std::uint16_t(i));
  Tensor<float, 1> c = cast<float>(all);
  Tensor<float, 1, cuda> g = cast<float>(to_device(all));
  CHECK(bit_identical(c, g));
  // Floats to half: every 2^-9 step of the float patterns' upper bits plus the ties and the
  // neighbours of each half boundary, NaNs with payloads, subnormal floats and results.
  Tensor<float, 1> f(Shape<1>{(1 << 23) + 65536 * 3});
  std::int64_t k = 0;
  for (std::uint32_t hi = 0; hi < (1u << 23); ++hi) f(k++) = strata::bit_cast<float>((hi << 9) | (hi * 2654435761u >> 23));
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const std::uint32_t b = strata::bit_cast<std::uint32_t>(float(strata::half::from_bits(std::uint16_t(h))));
    f(k++) = strata::bit_cast<float>(b + (1u << 12));  // the tie above (for normal halves)
    f(k++) = strata::bit_cast<float>(b + (1u << 12) - 1u);
    f(k++) = strata::bit_cast<float>(b + (1u << 12) + 1u);
  }
  Tensor<strata::half, 1> ch = cast<strata::half>(f);
  Tensor<strata::half, 1, cuda> gh = cast<strata::half>(to_device(f));
  CHECK(bit_identical(ch, gh));
}

TEST_CASE("half expressions in 16-byte packets, and from views at odd offsets", "[cuda][half]") {
  // Packets of 8 halves where the operands sit on 16 bytes (offsets 0 and 8), the element-wise
  // kernel where they do not (offset 1, 3); lengths that leave a ragged tail.
  auto a = random_tensor<float>(Shape{100019}, 17, -4, 4), b = random_tensor<float>(Shape{100019}, 18, -4, 4);
  Tensor<strata::half, 1> ha = cast<strata::half>(a), hb = cast<strata::half>(b);
  Tensor<strata::half, 1, cuda> ga = to_device(ha), gb = to_device(hb);
  for (const std::int64_t offset : {0, 1, 3, 8}) {
    const std::int64_t n = 100003 - offset;
    INFO("offset " << offset);
    Tensor<strata::half, 1> c = ha.slice(offset, n) * hb.slice(offset, n) + ha.slice(offset, n);
    Tensor<strata::half, 1, cuda> g = ga.slice(offset, n) * gb.slice(offset, n) + ga.slice(offset, n);
    CHECK(bit_identical(c, g));
    Tensor<float, 1> cf = cast<float>(hb.slice(offset, n)) * 0.5f;  // a cast with half leaves, float out
    Tensor<float, 1, cuda> gf = cast<float>(gb.slice(offset, n)) * 0.5f;
    CHECK(bit_identical(cf, gf));
  }
}

namespace {
__global__ void device_half_conversions(const std::uint16_t* bits, float* as_float, const float* floats,
                                        std::uint16_t* as_half, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    as_float[i] = __half2float(__ushort_as_half(bits[i]));
    as_half[i] = __half_as_ushort(__float2half_rn(floats[i]));
  }
}
}  // namespace

TEST_CASE("host half and device __half have the same bits", "[cuda][half]") {
  const int n = 65536;
  Tensor<std::uint16_t, 1> bits(n);
  for (int i = 0; i < n; ++i) bits(i) = static_cast<std::uint16_t>(i);
  // Floats that round to every half, and the midpoints between neighbours.
  Tensor<float, 1> floats(n);
  for (int i = 0; i < n; ++i) {
    const float lo = half_bits_to_float(static_cast<std::uint16_t>(i));
    const float hi = half_bits_to_float(static_cast<std::uint16_t>(i + 1 < n ? i + 1 : i));
    floats(i) = (i % 2 == 0 || !(lo == lo) || !(hi == hi)) ? lo : lo + (hi - lo) / 2;
  }
  auto dbits = to_device(bits);
  auto dfloats = to_device(floats);
  Tensor<float, 1, cuda> as_float(n);
  Tensor<std::uint16_t, 1, cuda> as_half(n);
  device_half_conversions<<<(n + 255) / 256, 256>>>(dbits.data(), as_float.data(), dfloats.data(), as_half.data(), n);
  STRATA_CUDA_CHECK_LAUNCH("device_half_conversions");
  auto hf = to_host(as_float);
  auto hh = to_host(as_half);
  for (int i = 0; i < n; ++i) {
    const float host = half_bits_to_float(static_cast<std::uint16_t>(i));
    if (host != host) {
      REQUIRE(hf(i) != hf(i));  // NaN stays NaN (payload details may differ)
    } else {
      REQUIRE(strata::bit_cast<std::uint32_t>(hf(i)) == strata::bit_cast<std::uint32_t>(host));
    }
    if (floats(i) == floats(i)) REQUIRE(hh(i) == float_to_half_bits(floats(i)));
  }
  static_assert(sizeof(strata::half) == sizeof(__half));
}

TEST_CASE("compound assignment and transpose on the GPU", "[cuda][elementwise]") {
  auto a = random_tensor<float>(Shape{37, 53}, 17), b = random_tensor<float>(Shape{53, 37}, 18);
  auto da = to_device(a), db = to_device(b);
  Tensor<float, 2> c = a.clone();
  Tensor<float, 2, cuda> g = da.clone();
  c += transpose(b);
  g += transpose(db);
  c *= 0.5f;
  g *= 0.5f;
  c -= a / 3;
  g -= da / 3;
  CHECK(bit_identical(c, g));
}

TEST_CASE("short broadcast rows of 1 to 255 values over many rows match the CPU", "[cuda][broadcast]") {
  // The short-row kernel: blocks of lanes × rows, the row index from the thread's place.
  for (const Shape<2>& s : {Shape{300000, 1}, Shape{300000, 7}, Shape{70000, 33}, Shape{20000, 255}}) {
    auto x = random_tensor<float>(s, 25);
    auto row = random_tensor<float>(Shape{s[1]}, 26);
    auto col = random_tensor<float>(Shape{s[0]}, 27);
    auto dx = to_device(x);
    auto drow = to_device(row);
    auto dcol = to_device(col);
    INFO("shape " << s.to_string());
    Tensor<float, 2> c = x * 2 - broadcast(row, axes<1>, s);
    Tensor<float, 2, cuda> g = dx * 2 - broadcast(drow, axes<1>, s);
    CHECK(bit_identical(c, g));
    c += broadcast(col, axes<0>, s) - x;
    g += broadcast(dcol, axes<0>, s) - dx;
    CHECK(bit_identical(c, g));
  }
  // An NCHW bias with planes of 49 and 196, two outer axes in the broadcast's index.
  for (const Shape<4>& s : {Shape{64, 64, 7, 7}, Shape{32, 96, 14, 14}}) {
    auto x = random_tensor<float>(s, 28);
    auto bias = random_tensor<float>(Shape{s[1]}, 29);
    auto dx = to_device(x);
    auto dbias = to_device(bias);
    INFO("shape " << s.to_string());
    Tensor<float, 4> c = x + broadcast(bias, axes<1>, s);
    Tensor<float, 4, cuda> g = dx + broadcast(dbias, axes<1>, s);
    CHECK(bit_identical(c, g));
  }
}
