// strata/core/tensor.hpp — Tensor<T, Rank, Device>: owning, contiguous, 64-byte aligned,
// row-major (NCHW for images), std::int64_t extents; TensorView over memory it does not own;
// batch slices without copying; and the leaf nodes tensors become inside expressions.
//
// Value semantics in one paragraph: moving a tensor is cheap; copy construction is deleted
// (call clone()); assignment `dst = expr` writes values into dst's existing storage (an empty
// dst is allocated to the expression's shape, a non-empty one must already have it). Views are
// cheap handles, copied shallowly, but assigning to a view writes values too.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/core/expression.hpp"
#include "strata/core/shape.hpp"
#include "strata/core/cpu_device.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/numeric/precision_traits.hpp"

#if !defined(STRATA_CHECK_BOUNDS) && !defined(NDEBUG)
#define STRATA_CHECK_BOUNDS 1
#endif

namespace strata {

template <class T, std::size_t Rank, class D = cpu>
class TensorView;
template <class T, std::size_t Rank, class D = cpu>
class Tensor;

// ---------------------------------------------------------------------------------------------
// Leaf nodes

// A tensor used as an operand: pointer and shape, held by value. The tensor must outlive the
// expression (see the README's rule on `auto`).
template <class T, std::size_t Rank, class D>
struct TensorRef : expression_node {
  using element_type = std::remove_const_t<T>;
  using value_type = compute_t<element_type>;
  using device_type = D;
  static constexpr std::size_t rank = Rank;
  static constexpr std::size_t collapse_depth = Rank;
  static constexpr bool is_complex = false;

  const element_type* data;
  Shape<Rank> extents;

  const Shape<Rank>& shape() const noexcept { return extents; }

  // Dynamic fixed point reads with its tensor's step 2^-f, as it was when the evaluator was made.
  struct no_step {};
  struct with_step {
    value_type step;
  };
  struct evaluator_type : std::conditional_t<has_dynamic_scale<element_type>, with_step, no_step> {
    const element_type* STRATA_RESTRICT data;
    std::int64_t inner;
    STRATA_HD STRATA_INLINE value_type convert(element_type x) const {
      if constexpr (has_dynamic_scale<element_type>) return precision_traits<element_type>::to_compute(x, this->step);
      else return precision_traits<element_type>::to_compute(x);
    }
    STRATA_HD STRATA_INLINE value_type operator()(std::int64_t row, std::int64_t col) const { return convert(data[row * inner + col]); }
    // Requires data + row * inner + col aligned to the packet.
    template <int W>
    STRATA_HD STRATA_INLINE void load(std::int64_t row, std::int64_t col, value_type* v) const {
      const auto p = *reinterpret_cast<const packet_storage<element_type, W>*>(data + row * inner + col);
      for (int k = 0; k < W; ++k) v[k] = convert(p.v[k]);
    }
  };
  evaluator_type evaluator(std::size_t collapsed) const {
    evaluator_type e{};
    e.data = data;
    e.inner = detail::inner_extent(extents, collapsed);
    if constexpr (has_dynamic_scale<element_type>)
      if (extents.elements() > 0) e.step = std::ldexp(value_type(1), -scale_of(data).fraction_bits);
    return e;
  }
};

// A temporary tensor used as an operand is moved into the expression, so an expression built
// from a function's result never dangles.
template <class T, std::size_t Rank, class D>
struct TensorOwner : expression_node {
  using element_type = T;
  using value_type = compute_t<T>;
  using device_type = D;
  static constexpr std::size_t rank = Rank;
  static constexpr std::size_t collapse_depth = Rank;
  static constexpr bool is_complex = false;

  Tensor<T, Rank, D> tensor;

  const Shape<Rank>& shape() const noexcept { return tensor.shape(); }
  auto evaluator(std::size_t collapsed) const {
    return TensorRef<const T, Rank, D>{{}, tensor.data(), tensor.shape()}.evaluator(collapsed);
  }
};

template <class X>
inline constexpr bool is_owning_tensor_v = false;
template <class T, std::size_t Rank, class D>
inline constexpr bool is_owning_tensor_v<Tensor<T, Rank, D>> = true;

// Turns any operand into a node: nodes pass through (copied or moved), lvalue tensors and all
// views become TensorRef, rvalue tensors become TensorOwner.
template <class X>
  requires Expression<X>
auto as_node(X&& x) {
  using Xd = std::remove_cvref_t<X>;
  if constexpr (ExpressionNode<Xd>) {
    return Xd(std::forward<X>(x));
  } else if constexpr (is_owning_tensor_v<Xd> && !std::is_lvalue_reference_v<X>) {
    return TensorOwner<typename Xd::value_type, Xd::rank, typename Xd::device_type>{{}, std::move(x)};
  } else {
    return TensorRef<const std::remove_const_t<typename Xd::value_type>, Xd::rank, typename Xd::device_type>{
        {}, x.data(), x.shape()};
  }
}

template <class X>
using node_t = decltype(as_node(std::declval<X>()));

// ---------------------------------------------------------------------------------------------
// Shared interface of Tensor and TensorView (element access, slicing, assignment).

namespace detail {

template <std::size_t Rank>
std::string index_string(const std::array<std::int64_t, Rank>& idx) {
  std::string s = "(";
  for (std::size_t i = 0; i < Rank; ++i) s += (i ? ", " : "") + std::to_string(idx[i]);
  return s + ")";
}

}  // namespace detail

template <class Derived, class T, std::size_t Rank, class D>
class tensor_interface : public tensor_like {
 public:
  using value_type = T;
  using element_type = std::remove_const_t<T>;
  using device_type = D;
  static constexpr std::size_t rank = Rank;

  std::int64_t size() const noexcept { return self().shape().elements(); }
  std::int64_t extent(std::size_t axis) const noexcept { return self().shape()[axis]; }
  std::int64_t bytes() const noexcept { return size() * static_cast<std::int64_t>(sizeof(T)); }
  bool empty() const noexcept { return size() == 0; }

  // Element access by full index; bounds-checked when STRATA_CHECK_BOUNDS is on (debug builds).
  template <std::integral... I>
    requires(sizeof...(I) == Rank)
  T& operator()(I... index) const {
    static_assert(std::is_same_v<D, cpu>, "strata: element access is for CPU tensors; copy a CUDA tensor to the host first");
    const std::array<std::int64_t, Rank> idx{static_cast<std::int64_t>(index)...};
    std::int64_t offset = 0;
    for (std::size_t a = 0; a < Rank; ++a) {
#if STRATA_CHECK_BOUNDS
      if (idx[a] < 0 || idx[a] >= self().shape()[a])
        throw index_error("tensor index " + detail::index_string<Rank>(idx) + " is outside shape " +
                          self().shape().to_string());
#endif
      offset = offset * self().shape()[a] + idx[a];
    }
    return self().data()[offset];
  }

  // A view of `count` consecutive entries along the first axis (a batch range), no copy.
  TensorView<T, Rank, D> slice(std::int64_t first, std::int64_t count) const {
    const auto& s = self().shape();
    if (first < 0 || count < 0 || first + count > s[0])
      throw index_error("slice [" + std::to_string(first) + ", " + std::to_string(first + count) +
                        ") along axis 0 is outside shape " + s.to_string());
    Shape<Rank> sub = s;
    sub[0] = count;
    return TensorView<T, Rank, D>(self().data() + first * s.elements_from(1), sub);
  }

  // Entry i along the first axis as a tensor of one rank less (sample i of a batch).
  TensorView<T, Rank - 1, D> operator[](std::int64_t i) const
    requires(Rank > 1)
  {
    const auto& s = self().shape();
    if (i < 0 || i >= s[0])
      throw index_error("index " + std::to_string(i) + " along axis 0 is outside shape " + s.to_string());
    Shape<Rank - 1> sub;
    for (std::size_t a = 1; a < Rank; ++a) sub[a - 1] = s[a];
    return TensorView<T, Rank - 1, D>(self().data() + i * s.elements_from(1), sub);
  }

  // The same elements under another shape with the same element count.
  template <std::size_t NewRank>
  TensorView<T, NewRank, D> reshape(const Shape<NewRank>& to) const {
    if (to.elements() != size())
      throw shape_error("reshape: " + self().shape().to_string() + " has " + std::to_string(size()) +
                        " elements, " + to.to_string() + " has " + std::to_string(to.elements()));
    return TensorView<T, NewRank, D>(self().data(), to);
  }
  template <std::integral... I>
  TensorView<T, sizeof...(I), D> reshape(I... extents) const {
    return reshape(Shape<sizeof...(I)>{extents...});
  }

  // A flat rank-1 view of all elements.
  TensorView<T, 1, D> flat() const { return TensorView<T, 1, D>(self().data(), Shape<1>{size()}); }

  TensorRef<const element_type, Rank, D> ref() const noexcept { return {{}, self().data(), self().shape()}; }

 protected:
  const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }
};

// Evaluates `e` into `dst` through the device's one dispatch point. Defined here so Tensor and
// TensorView share it; device_traits<D>::assign does the work.
template <assign_mode Mode = assign_mode::set, class T, std::size_t Rank, class D, class E>
void assign(const TensorView<T, Rank, D>& dst, const E& e);

namespace detail {
// dst += x, dst -= x, dst *= x, dst /= x for an expression or a scalar x. + and - go to the
// device as assign modes (so `c += matmul(a, b)` is one GEMM with beta = 1); * and / build
// the element-wise product, which is safe in place because each element reads only itself.
template <char Op, class T, std::size_t Rank, class D, class X>
void compound_assign(const TensorView<T, Rank, D>& dst, X&& x) {
  auto rhs = [&] {
    if constexpr (Scalar<X>) return constant_like(dst.ref(), x);
    else return as_node(std::forward<X>(x));
  }();
  if constexpr (Op == '+') assign<assign_mode::add>(dst, rhs);
  else if constexpr (Op == '-') assign<assign_mode::subtract>(dst, rhs);
  else if constexpr (Op == '*') assign(dst, dst.ref() * std::move(rhs));
  else assign(dst, dst.ref() / std::move(rhs));
}
}  // namespace detail

#define STRATA_COMPOUND_ASSIGNMENTS(SELF, CONST)                                                   \
  template <class X>                                                                               \
    requires Expression<X> || Scalar<X>                                                            \
  SELF& operator+=(X&& x) CONST {                                                                  \
    detail::compound_assign<'+'>(view(), std::forward<X>(x));                                      \
    return *this;                                                                                  \
  }                                                                                                \
  template <class X>                                                                               \
    requires Expression<X> || Scalar<X>                                                            \
  SELF& operator-=(X&& x) CONST {                                                                  \
    detail::compound_assign<'-'>(view(), std::forward<X>(x));                                      \
    return *this;                                                                                  \
  }                                                                                                \
  template <class X>                                                                               \
    requires Expression<X> || Scalar<X>                                                            \
  SELF& operator*=(X&& x) CONST {                                                                  \
    detail::compound_assign<'*'>(view(), std::forward<X>(x));                                      \
    return *this;                                                                                  \
  }                                                                                                \
  template <class X>                                                                               \
    requires Expression<X> || Scalar<X>                                                            \
  SELF& operator/=(X&& x) CONST {                                                                  \
    detail::compound_assign<'/'>(view(), std::forward<X>(x));                                      \
    return *this;                                                                                  \
  }

// ---------------------------------------------------------------------------------------------
// TensorView

template <class T, std::size_t Rank, class D>
class TensorView : public tensor_interface<TensorView<T, Rank, D>, T, Rank, D> {
  static_assert(Rank >= 1, "strata: a tensor has rank 1 or more");
  static_assert(Device<D>, "strata: TensorView<T, Rank, D>: D must be a device tag (strata::cpu or strata::cuda)");

 public:
  TensorView() = default;
  TensorView(T* data, const Shape<Rank>& shape) noexcept : data_(data), shape_(shape) {}
  // A view of mutable elements converts to a view of const ones.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  TensorView(const TensorView<U, Rank, D>& other) noexcept : data_(other.data()), shape_(other.shape()) {}

  TensorView(const TensorView&) = default;

  // Assignment writes values (like Tensor), it does not rebind the view.
  TensorView& operator=(const TensorView& other) {
    assign(*this, other.ref());
    return *this;
  }
  template <class E>
    requires Expression<E>
  TensorView& operator=(E&& e) {
    static_assert(!std::is_const_v<T>, "strata: cannot assign to a view of const elements");
    assign(*this, as_node(std::forward<E>(e)));
    return *this;
  }
  template <Scalar S>
  TensorView& operator=(S value) {
    fill(value);
    return *this;
  }

  T* data() const noexcept { return data_; }
  const Shape<Rank>& shape() const noexcept { return shape_; }
  TensorView view() const noexcept { return *this; }

  // Points the view at other memory (assignment writes values; this does not).
  void rebind(const TensorView& other) noexcept {
    data_ = other.data_;
    shape_ = other.shape_;
  }

  STRATA_COMPOUND_ASSIGNMENTS(const TensorView, const)

  template <Scalar S>
  void fill(S value) const;

 private:
  T* data_ = nullptr;
  Shape<Rank> shape_{};
};

template <class T, std::size_t Rank>
TensorView(T*, const Shape<Rank>&) -> TensorView<T, Rank, cpu>;

// Wraps foreign memory (contiguous, row-major) without copying: map(ptr, Shape{2, 3}).
template <class T, std::size_t Rank>
TensorView<T, Rank, cpu> map(T* data, const Shape<Rank>& shape) noexcept {
  return TensorView<T, Rank, cpu>(data, shape);
}

// ---------------------------------------------------------------------------------------------
// Tensor

template <class T, std::size_t Rank, class D>
class Tensor : public tensor_interface<Tensor<T, Rank, D>, T, Rank, D> {
  static_assert(Rank >= 1, "strata: a tensor has rank 1 or more");
  static_assert(Device<D>, "strata: Tensor<T, Rank, D>: D must be a device tag (strata::cpu or strata::cuda)");
  static_assert(!std::is_const_v<T> && !std::is_reference_v<T>, "strata: Tensor<T, …>: T must be a plain element type");

  using traits = device_traits<D>;

 public:
  Tensor() = default;

  // Zero-filled.
  explicit Tensor(const Shape<Rank>& shape) : Tensor(uninitialized(shape)) {
    if constexpr (has_dynamic_scale<T>) traits::fill(data_, this->size(), T::zero());  // zero at any exponent
    else this->fill(T(0));
  }
  template <std::integral... I>
    requires(sizeof...(I) == Rank)
  explicit Tensor(I... extents) : Tensor(Shape<Rank>{extents...}) {}

  Tensor(const Shape<Rank>& shape, T value) : Tensor(uninitialized(shape)) { this->fill(value); }
  // Tensor<float, 2> t(3, 4, 1.5f): extents, then the fill value.
  template <class... A>
    requires(sizeof...(A) == Rank + 1 && (std::is_arithmetic_v<A> && ...))
  Tensor(A... extents_then_value) : Tensor(split_extents(extents_then_value...)) {}

  // Storage left as the allocator gave it, for buffers about to be overwritten.
  static Tensor uninitialized(const Shape<Rank>& shape) {
    Tensor t;
    t.allocate(shape);
    return t;
  }

  // Evaluates an expression into new storage of its shape.
  template <ExpressionNode E>
  Tensor(const E& e) {  // NOLINT(google-explicit-constructor): `Tensor d = a * b;` reads naturally
    if constexpr (!is_invalid_v<E>) {
      allocate(e.shape());
      assign(view(), e);
    }
  }

  // An explicit copy of a view's (or another tensor's) values: Tensor<float, 2> t(view).
  template <class V>
    requires TensorLike<V> && (!std::is_same_v<std::remove_cvref_t<V>, Tensor>)
  explicit Tensor(const V& v) : Tensor(v.ref()) {}

  Tensor(Tensor&& other) noexcept : data_(std::exchange(other.data_, nullptr)), shape_(std::exchange(other.shape_, {})) {}
  Tensor& operator=(Tensor&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      shape_ = std::exchange(other.shape_, {});
    }
    return *this;
  }

  // Copying is explicit: call clone(). Implicit copies of large buffers are a classic
  // performance bug, so the copy constructor does not exist.
  Tensor(const Tensor&) = delete;

  // Writes other's values into this tensor's storage (allocating if this one is empty).
  Tensor& operator=(const Tensor& other) {
    if (this != &other) assign_from(other.ref());
    return *this;
  }
  template <class E>
    requires Expression<E>
  Tensor& operator=(E&& e) {
    assign_from(as_node(std::forward<E>(e)));
    return *this;
  }
  template <Scalar S>
  Tensor& operator=(S value) {
    this->fill(value);
    return *this;
  }

  STRATA_COMPOUND_ASSIGNMENTS(Tensor, )

  ~Tensor() { release(); }

  Tensor clone() const {
    Tensor t = uninitialized(shape_);
    traits::copy(data_, t.data_, this->size());
    if constexpr (has_dynamic_scale<T>)
      if (data_) scale_of(t.data_) = scale_of(data_);
    return t;
  }

  // Changes the shape; reallocates only when the element count changes (contents then zero).
  void resize(const Shape<Rank>& shape) {
    if (shape.elements() != shape_.elements()) {
      *this = Tensor(shape);
    } else {
      shape_ = shape;
    }
  }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  const Shape<Rank>& shape() const noexcept { return shape_; }

  TensorView<T, Rank, D> view() noexcept { return {data_, shape_}; }
  TensorView<const T, Rank, D> view() const noexcept { return {data_, shape_}; }
  operator TensorView<T, Rank, D>() noexcept { return view(); }
  operator TensorView<const T, Rank, D>() const noexcept { return view(); }

  // Element access, slicing and reshaping through views; const tensors give const views.
  template <std::integral... I>
    requires(sizeof...(I) == Rank)
  T& operator()(I... index) {
    return view()(index...);
  }
  template <std::integral... I>
    requires(sizeof...(I) == Rank)
  const T& operator()(I... index) const {
    return view()(index...);
  }
  TensorView<T, Rank, D> slice(std::int64_t first, std::int64_t count) { return view().slice(first, count); }
  TensorView<const T, Rank, D> slice(std::int64_t first, std::int64_t count) const {
    return view().slice(first, count);
  }
  TensorView<T, Rank - 1, D> operator[](std::int64_t i)
    requires(Rank > 1)
  {
    return view()[i];
  }
  TensorView<const T, Rank - 1, D> operator[](std::int64_t i) const
    requires(Rank > 1)
  {
    return view()[i];
  }
  template <class... A>
  auto reshape(A&&... a) {
    return view().reshape(std::forward<A>(a)...);
  }
  template <class... A>
  auto reshape(A&&... a) const {
    return view().reshape(std::forward<A>(a)...);
  }
  TensorView<T, 1, D> flat() { return view().flat(); }
  TensorView<const T, 1, D> flat() const { return view().flat(); }

  template <Scalar S>
  void fill(S value) {
    view().fill(value);
  }

 private:
  // Each extent converted on its own: through a common type (float, with a float value) an
  // extent of 16777217 would become 16777216.
  template <class... A>
  static std::pair<Shape<Rank>, T> split_extents(A... a) {
    const std::tuple<A...> v{a...};
    Shape<Rank> s;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((s[I] = static_cast<std::int64_t>(std::get<I>(v))), ...);
    }(std::make_index_sequence<Rank>{});
    return {s, static_cast<T>(std::get<Rank>(v))};
  }
  explicit Tensor(const std::pair<Shape<Rank>, T>& shape_and_value) : Tensor(shape_and_value.first, shape_and_value.second) {}

  template <class Node>
  void assign_from(const Node& e) {
    if constexpr (is_invalid_v<Node>) return;
    else if (data_ == nullptr && this->size() == 0 && e.shape() != shape_) {
      // An empty tensor takes the shape of what it is given, an empty one ([0, 1, 28, 28]) too.
      if (e.shape().elements() > 0) allocate(e.shape());
      else shape_ = e.shape();
    }
    assign(view(), e);
  }

  void allocate(const Shape<Rank>& shape) {
    release();
    data_ = traits::template allocate<T>(shape.elements());
    shape_ = shape;
  }
  void release() noexcept {
    if (data_) traits::deallocate(data_);
    data_ = nullptr;
    shape_ = {};
  }

  T* data_ = nullptr;
  Shape<Rank> shape_{};
};

template <class T, std::size_t Rank, class D>
template <Scalar S>
void TensorView<T, Rank, D>::fill(S value) const {
  static_assert(!std::is_const_v<T>, "strata: cannot fill a view of const elements");
  if constexpr (has_dynamic_scale<T>) {  // the value sets the exponent, as any write of the whole tensor
    static_assert(std::is_same_v<D, cpu>, "strata: dynamic fixed point lives on the CPU");
    detail::store_dynamic<assign_mode::set>(data_, this->size(), this->size(), detail::constant_value{static_cast<float>(value)});
  } else {
    device_traits<D>::fill(data_, this->size(), static_cast<T>(value));
  }
}

// A copy between devices is defined by the device's header (<strata/cuda.hpp>); this fallback
// only exists to say so.
template <class SrcDevice, class DstDevice, class Src, class Dst>
void cross_device_copy(SrcDevice, DstDevice, const Src&, const Dst&) {
  static_assert(!std::is_same_v<SrcDevice, SrcDevice>,
                "strata::copy between host and device tensors needs #include <strata/cuda.hpp>");
}

// Copies src's values into dst; the element counts must agree, shapes may differ (a reshape).
// Between host and device it is a synchronous transfer.
template <class Src, class Dst>
  requires TensorLike<Src> && TensorLike<Dst>
void copy(const Src& src, Dst&& dst) {
  using S = std::remove_cvref_t<Src>;
  using Dd = std::remove_cvref_t<Dst>;
  static_assert(std::is_same_v<std::remove_const_t<typename S::value_type>, typename Dd::value_type>,
                "strata::copy: element types differ; convert with dst = strata::cast<T>(src)");
  if constexpr (!std::is_same_v<typename S::device_type, typename Dd::device_type>) {
    cross_device_copy(typename S::device_type{}, typename Dd::device_type{}, src.view(), dst.view());
  } else {
    if (src.size() != dst.size())
      throw shape_error("copy: source " + src.shape().to_string() + " and destination " +
                        dst.shape().to_string() + " hold different numbers of elements");
    using E = std::remove_const_t<typename S::value_type>;
    if constexpr (has_dynamic_scale<E>) {  // the values with their exponent (or rescaled into a part of a tensor)
      if (src.size() > 0) dst.flat() = src.flat().ref();
    } else {
      device_traits<typename Dd::device_type>::copy(src.data(), dst.data(), src.size());
    }
  }
}

#undef STRATA_COMPOUND_ASSIGNMENTS

// The checks every assignment makes, then the device's dispatch point.
template <assign_mode Mode, class T, std::size_t Rank, class D, class E>
void assign(const TensorView<T, Rank, D>& dst, const E& e) {
  if constexpr (!is_invalid_v<E>) {  // else a static_assert has already said what is wrong
    static_assert(!std::is_const_v<T>, "strata: cannot assign to a view of const elements");
    static_assert(ExpressionNode<E>, "strata::assign: the source must be an expression node (use as_node)");
    static_assert(std::is_same_v<typename E::device_type, D>,
                  "strata: the expression lives on another device than the destination; copy explicitly");
    static_assert(E::rank == Rank, "strata: the expression's rank differs from the destination's rank");
    static_assert(std::is_same_v<typename E::element_type, T>,
                  "strata: the expression's element type differs from the destination's; convert with "
                  "strata::cast<T>(expr)");
    if (e.shape() != dst.shape())
      throw shape_error("assign: destination " + dst.shape().to_string() + " and expression " +
                        e.shape().to_string() + " have different shapes");
    device_traits<D>::template assign<Mode>(dst, e);
  }
}

}  // namespace strata

#include "strata/core/bit_tensor.hpp"  // Tensor<binary, …>: packed bits
