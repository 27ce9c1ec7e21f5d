// strata/net/network_edit.hpp — networks made from other networks, for transfer learning: the
// first K layers (a feature extractor), a new head in place of the last layers, and copying the
// weights a new model shares with an old one, checked name by name and shape by shape.
//
//   using Body = take_layers_t<Net, 10>;                  // layers 0…9 of Net
//   using Tuned = replace_head_t<Net, Dense<5>>;          // Net with its last layer replaced
//   copy_shared_parameters(pretrained, tuned, 10);        // layers 0…9 from the pretrained model
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/tensor.hpp"
#include "strata/net/sequential.hpp"
#include "strata/net/type_list.hpp"

namespace strata {

namespace detail {
template <class Net, class Head, class Seq>
struct edit_network;
template <class In, class... L, class... H, std::size_t... I>
struct edit_network<Sequential<In, L...>, type_list<H...>, std::index_sequence<I...>> {
  using type = Sequential<In, type_at_t<I, type_list<L...>>..., H...>;
};
template <class Net>
struct network_parts;
template <class In, class... L>
struct network_parts<Sequential<In, L...>> {
  static constexpr std::size_t size = sizeof...(L);
};
}  // namespace detail

// The first K layers of Net, on Net's input (a feature extractor).
template <class Net, std::size_t K>
  requires(Network<Net> && K > 0 && K <= Net::layer_count)
using take_layers_t = typename detail::edit_network<Net, type_list<>, std::make_index_sequence<K>>::type;

// Net with its last Replaced layers (1: the classifier) replaced by Head….
template <class Net, std::size_t Replaced, class... Head>
  requires(Network<Net> && Replaced <= Net::layer_count && Replaced + sizeof...(Head) > 0)
using replace_last_t =
    typename detail::edit_network<Net, type_list<Head...>, std::make_index_sequence<Net::layer_count - Replaced>>::type;

// Net with its last layer (the classifier) replaced by Head…: replace_head_t<Net, Dense<5>>.
template <class Net, class... Head>
  requires(Network<Net> && sizeof...(Head) > 0)
using replace_head_t = replace_last_t<Net, 1, Head...>;

namespace detail {
inline std::size_t top_level_index(const std::string& name) { return std::stoul(name.substr(0, name.find('.'))); }
}  // namespace detail

// Copies every parameter and every piece of state (batch-norm statistics) of `to`'s top-level
// layers [0, layers) from the entry of the same name in `from`. Everything is checked before
// anything is copied: a missing name or a different size throws naming the entry, and `to` is
// left as it was. The two models may differ in precision (values are converted); both live on
// the CPU.
template <class From, class To>
void copy_shared_parameters(From& from, To& to, std::size_t layers) {
  using S = typename From::element_type;
  using T = typename To::element_type;
  if (layers > To::layer_count || layers > From::layer_count)
    throw error("copy_shared_parameters: " + std::to_string(layers) + " layers asked, the models have " +
                std::to_string(From::layer_count) + " and " + std::to_string(To::layer_count));
  std::map<std::string, TensorView<S, 1>> source;
  from.visit_parameters([&](const auto& p) { source.emplace(p.name, p.value); });
  from.visit_state([&](const std::string& name, TensorView<S, 1> v) { source.emplace(name, v); });
  std::vector<std::pair<TensorView<S, 1>, TensorView<T, 1>>> copies;
  const auto plan = [&](const std::string& name, TensorView<T, 1> v) {
    if (detail::top_level_index(name) >= layers) return;
    const auto it = source.find(name);
    if (it == source.end())
      throw error("copy_shared_parameters: '" + name + "' has no counterpart in the source model (" + From::signature() + ")");
    if (it->second.size() != v.size())
      throw error("copy_shared_parameters: '" + name + "' has " + std::to_string(v.size()) + " values, the source's " +
                  std::to_string(it->second.size()));
    copies.emplace_back(it->second, v);
  };
  to.visit_parameters([&](const auto& p) { plan(p.name, p.value); });
  to.visit_state([&](const std::string& name, TensorView<T, 1> v) { plan(name, v); });
  for (auto& [s, d] : copies)
    for (std::int64_t i = 0; i < d.size(); ++i) d.data()[i] = T(s.data()[i]);
}

}  // namespace strata
