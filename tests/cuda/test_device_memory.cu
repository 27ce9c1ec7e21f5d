// The CUDA device's memory and plumbing: tensors on the GPU, copies both ways (synchronous and
// on streams from pinned memory), the caching allocator and its stream contract (blocks freed
// while another stream may still read them wait for it; destroyed streams hand theirs back),
// overlapping device copies, empty transfers, the synchronous-launch debug mode, and errors as
// exceptions. The stream tests make the hazard certain with a kernel that spins for a while
// before it reads: without the fix under test, the next owner's data would be what it reads.
#include <strata/cuda.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "support/testing.hpp"

using namespace strata;
using Catch::Contains;
using strata::testing::random_tensor;

namespace {

bool bit_identical_host(const Tensor<float, 1>& a, const Tensor<float, 1>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), std::size_t(a.bytes())) == 0;
}

// Spins for about `ns` nanoseconds, then copies src to dst: a reader that is late on purpose.
__global__ void late_copy(const float* src, float* dst, std::int64_t n, long long ns) {
  if (threadIdx.x == 0) {
    const long long start = clock64();
    // clock64 counts SM cycles; 2 GHz covers any clock this test meets (slower ones wait longer).
    while (clock64() - start < ns * 2) {
    }
  }
  __syncthreads();
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

constexpr long long late_ns = 50'000'000;  // 50 ms: far longer than a fill of the same memory

}  // namespace

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

TEST_CASE("a block freed while another stream still reads it is not reused until that stream passes", "[cuda][allocator][stream]") {
  const std::int64_t n = 1 << 20;
  stream producer, reader;
  auto& pool = caching_allocator::instance();
  for (const bool recorded : {false, true}) {
    INFO((recorded ? "marked with record_stream, freed on its own stream" : "freed while the reading stream is current"));
    Tensor<float, 1, cuda> out(n);
    {
      stream_guard g(producer);
      Tensor<float, 1, cuda> a(n);
      a.fill(1.0f);
      producer.synchronize();
      late_copy<<<64, 256, 0, reader>>>(a.data(), out.data(), n, late_ns);  // reads a 50 ms from now
      STRATA_CUDA_CHECK_LAUNCH("late_copy");
      if (recorded) {
        record_stream(a, reader);
      } else {
        stream_guard on_reader(reader);
        a = Tensor<float, 1, cuda>();  // freed with `reader` current
      }
    }  // (recorded: a freed here, with `producer` current)
    CHECK(pool.pending_blocks() >= 1);
    {
      stream_guard g(producer);
      Tensor<float, 1, cuda> b(n);  // the same size on the same stream: a's block if it were free
      b.fill(7.0f);
      producer.synchronize();
    }
    reader.synchronize();
    const auto h = to_host(out);
    std::int64_t wrong = 0;
    for (std::int64_t i = 0; i < n; ++i) wrong += h(i) != 1.0f;
    CHECK(wrong == 0);
  }
  Tensor<float, 1, cuda> next(16);  // an allocation collects the blocks whose streams passed
  CHECK(pool.pending_blocks() == 0);
}

TEST_CASE("strata's streams are ordered against the legacy stream where tensors are made", "[cuda][stream]") {
  const std::int64_t n = 1 << 20;
  Tensor<float, 1, cuda> delay_src(n), delay_dst(n);
  {
    Tensor<float, 1, cuda> old(n);  // leaves 7s in a block the next tensor of this size reuses
    old.fill(7.0f);
  }
  late_copy<<<64, 256>>>(delay_src.data(), delay_dst.data(), n, late_ns);  // stream 0 is busy for 50 ms
  STRATA_CUDA_CHECK_LAUNCH("late_copy");
  Tensor<float, 1, cuda> w(n);  // reuses old's block; zero-filled on stream 0 after the late kernel
  stream s;
  Tensor<float, 1, cuda> y(n);
  {
    stream_guard g(s);
    y = w + 1.0f;  // on s: must wait for w's fill (a blocking stream waits for stream 0)
  }
  s.synchronize();
  const auto h = to_host(y);
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < n; ++i) wrong += h(i) != 1.0f;
  CHECK(wrong == 0);
}

TEST_CASE("a destroyed stream hands its cached blocks to the legacy stream", "[cuda][allocator][stream]") {
  auto& pool = caching_allocator::instance();
  const std::int64_t n = 3 << 20;
  {
    stream s;
    stream_guard g(s);
    Tensor<float, 1, cuda> t(n);
    t.fill(2.0f);
  }  // t freed on s, then s destroyed
  const auto before = pool.stats();
  Tensor<float, 1, cuda> u(n);  // on the legacy stream: served from the block s left
  const auto after = pool.stats();
  CHECK(after.device_allocations == before.device_allocations);
  CHECK(after.cache_hits == before.cache_hits + 1);
  CHECK(to_host(u)(n - 1) == 0.0f);
}

TEST_CASE("device copies of overlapping views behave as memmove, as on the CPU", "[cuda][memory]") {
  const std::int64_t n = 100003;
  auto x = random_tensor<float>(Shape{n}, 41);
  for (const std::int64_t shift : {1, 17, 5000}) {
    Tensor<float, 1> c = x.clone();
    Tensor<float, 1, cuda> g = to_device(x);
    copy(c.slice(0, n - shift), c.slice(shift, n - shift));  // forwards over itself
    copy(g.slice(0, n - shift), g.slice(shift, n - shift));
    CHECK(bit_identical_host(to_host(g), c));
    copy(c.slice(shift, n - shift), c.slice(0, n - shift));  // and backwards
    copy(g.slice(shift, n - shift), g.slice(0, n - shift));
    CHECK(bit_identical_host(to_host(g), c));
  }
}

TEST_CASE("views of non-const data transfer both ways, and empty transfers are no-ops", "[cuda][memory]") {
  Tensor<float, 2> h = random_tensor<float>(Shape{4, 3}, 42);
  Tensor<float, 2, cuda> d = to_device(h.slice(1, 2));  // TensorView<float, 2, cpu>
  CHECK(d.shape() == Shape{2, 3});
  Tensor<float, 2> back = to_host(d.slice(0, 2));  // TensorView<float, 2, cuda>
  CHECK(back(1, 2) == h(2, 2));
  stream s;
  Tensor<float, 2> out(2, 3);
  copy_async(d.slice(0, 2), out.slice(0, 2), s);
  copy_async(out.slice(0, 2), d.slice(0, 2), s);
  s.synchronize();
  CHECK(out(0, 0) == h(1, 0));
  Tensor<float, 2> none(0, 3);
  Tensor<float, 2, cuda> dnone = to_device(none);
  CHECK(dnone.size() == 0);
  CHECK(to_host(dnone).size() == 0);
  copy_async(none.slice(0, 0), dnone.slice(0, 0), s);
  s.synchronize();
}

TEST_CASE("the synchronous-launch debug mode waits for each checked launch", "[cuda][errors]") {
  const std::int64_t n = 1 << 16;
  Tensor<float, 1, cuda> a(n), b(n);
  const bool was = sync_launches();
  set_sync_launches(true);
  late_copy<<<16, 256>>>(a.data(), b.data(), n, late_ns);
  STRATA_CUDA_CHECK_LAUNCH("late_copy");
  CHECK(cudaStreamQuery(nullptr) == cudaSuccess);  // the 50 ms kernel has finished already
  set_sync_launches(was);
  late_copy<<<16, 256>>>(a.data(), b.data(), n, late_ns);
  STRATA_CUDA_CHECK_LAUNCH("late_copy");
  CHECK(cudaStreamQuery(nullptr) == cudaErrorNotReady);  // without it, the launch returns at once
  synchronize();
}
