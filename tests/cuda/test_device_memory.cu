// The CUDA device's memory and plumbing: tensors on the GPU, copies both ways (synchronous and
// on streams from pinned memory), the caching allocator, and errors as exceptions.
#include <strata/cuda.hpp>

#include <cstdint>
#include <vector>

#include "support/testing.hpp"

using namespace strata;
using Catch::Contains;
using strata::testing::random_tensor;

TEST_CASE("a device tensor is zero-filled and round-trips through the host", "[cuda][memory]") {
  Tensor<float, 3, cuda> d(4, 5, 6);
  auto h = to_host(d);
  for (std::int64_t i = 0; i < h.size(); ++i) REQUIRE(h.data()[i] == 0.0f);
  auto x = random_tensor<float>(Shape{4, 5, 6}, 1);
  auto dx = to_device(x);
  CHECK(dx.shape() == x.shape());
  auto back = to_host(dx);
  CHECK(std::equal(x.data(), x.data() + x.size(), back.data()));
}

TEST_CASE("fill, clone and copy on the device", "[cuda][memory]") {
  Tensor<double, 2, cuda> a(100, 77);
  a.fill(2.5);
  Tensor<double, 2, cuda> b = a.clone();
  CHECK(b.data() != a.data());
  a.fill(-1.0);
  auto hb = to_host(b);
  CHECK(hb(99, 76) == 2.5);
  Tensor<double, 1, cuda> flat(7700);
  copy(b, flat);  // same device: a device-to-device copy, shapes may differ
  CHECK(to_host(flat)(7699) == 2.5);
  Tensor<double, 1, cuda> wrong(5);
  CHECK_THROWS_AS(copy(b, wrong), shape_error);
}

TEST_CASE("copy() moves data between host and device synchronously", "[cuda][memory]") {
  auto x = random_tensor<float>(Shape{3, 1000}, 2);
  Tensor<float, 2, cuda> d(3, 1000);
  copy(x, d);
  Tensor<float, 2> y(3, 1000);
  copy(d, y);
  CHECK(std::equal(x.data(), x.data() + x.size(), y.data()));
  Tensor<float, 1> small(10);
  CHECK_THROWS_WITH(copy(d, small), Contains("[3, 1000]") && Contains("[10]"));
}

TEST_CASE("asynchronous copies from pinned memory on a stream", "[cuda][memory][stream]") {
  const std::int64_t n = 1 << 20;
  pinned_buffer<float> host_in(n), host_out(n);
  for (std::int64_t i = 0; i < n; ++i) host_in.data()[i] = float(i % 1013) * 0.5f;
  stream s;
  stream_guard guard(s);
  Tensor<float, 1, cuda> d(n);  // allocated on s
  copy_async(TensorView<const float, 1, cpu>(host_in.data(), Shape<1>{n}), d.view(), s);
  d = d * 2 + 1;  // runs on s, after the copy
  copy_async(TensorView<const float, 1, cuda>(d.data(), Shape<1>{n}), TensorView<float, 1, cpu>(host_out.data(), Shape<1>{n}), s);
  event done;
  done.record(s);
  done.synchronize();
  CHECK(done.done());
  for (std::int64_t i = 0; i < n; i += 997) REQUIRE(host_out.data()[i] == host_in.data()[i] * 2 + 1);
}

TEST_CASE("the caching allocator stops calling cudaMalloc after the first step", "[cuda][allocator]") {
  auto& pool = caching_allocator::instance();
  auto step = [] {
    Tensor<float, 4, cuda> activations(32, 64, 28, 28);
    Tensor<float, 2, cuda> weights(256, 1024);
    Tensor<float, 1, cuda> bias(256);
    activations = activations * 2;
  };
  step();
  const auto after_first = pool.stats();
  for (int i = 0; i < 10; ++i) step();
  synchronize();
  const auto after_ten = pool.stats();
  CHECK(after_ten.device_allocations == after_first.device_allocations);
  CHECK(after_ten.cache_hits >= after_first.cache_hits + 30);
  CHECK(after_ten.bytes_in_use == after_first.bytes_in_use);
  CHECK(caching_allocator::round_size(1) == 512);
  CHECK(caching_allocator::round_size((std::size_t{1} << 20) + 1) == std::size_t{2} << 20);
}

TEST_CASE("an allocation the device cannot hold throws a cuda_error naming the size", "[cuda][errors]") {
  const std::int64_t elements = std::int64_t{1} << 42;  // 16 TiB of floats
  CHECK_THROWS_AS((Tensor<float, 1, cuda>(elements)), cuda_error);
  CHECK_THROWS_WITH((Tensor<float, 1, cuda>(elements)), Contains("cannot allocate") && Contains(std::to_string(elements * 4)));
  Tensor<float, 1, cuda> fine(16);  // the device still works afterwards
  fine.fill(1.0f);
  CHECK(sum(fine) == 16.0f);
}

TEST_CASE("a bad kernel launch and a failing call surface as exceptions naming them", "[cuda][errors]") {
  Tensor<float, 1, cuda> t(16);
  cuda_evaluator::fill_kernel<<<1, 4096>>>(t.data(), t.size(), 1.0f);  // more threads than a block may have
  CHECK_THROWS_WITH(STRATA_CUDA_CHECK_LAUNCH("fill_kernel with 4096 threads"),
                    Contains("launch of fill_kernel with 4096 threads") && Contains("test_device_memory.cu"));
  CHECK_THROWS_WITH(STRATA_CUDA_CHECK(cudaSetDevice(4096)), Contains("cudaSetDevice(4096)") && Contains("failed at"));
  t.fill(3.0f);  // the error was not sticky
  CHECK(to_host(t)(15) == 3.0f);
}

TEST_CASE("events time work on a stream", "[cuda][stream]") {
  stream s;
  stream_guard guard(s);
  CHECK(current_stream() == s.get());
  event start, stop;
  Tensor<float, 1, cuda> x(1 << 22);
  start.record(s);
  x = x + 1;
  stop.record(s);
  stop.synchronize();
  CHECK(stop.elapsed_ms_since(start) >= 0.0f);
}

TEST_CASE("the runtime describes the device", "[cuda]") {
  CHECK(cuda_runtime::device_count() >= 1);
  CHECK(cuda_runtime::unavailable_reason().empty());
  CHECK(cuda_runtime::describe(0).find("sm_") != std::string::npos);
}
