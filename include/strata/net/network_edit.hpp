// strata/net/network_edit.hpp — networks made from other networks, for transfer learning: the
// first K layers (a feature extractor), the layers after them (the top, to train on cached
// features), a new head in place of the last layers, and copying the weights a new model shares
// with an old one, checked name by name and shape by shape.
//
//   using Body = take_layers_t<Net, 10>;                  // layers 0…9 of Net
//   using Top = drop_layers_t<Net, 10>;                   // layers 10… on layer 9's output
//   using Tuned = replace_head_t<Net, Dense<5>>;          // Net with its last layer replaced
//   copy_shared_parameters(pretrained, tuned, 10);        // layers 0…9 from the pretrained model
//   copy_layers(pretrained, 10, top, 0, 5);               // pretrained layers 10…14 into top 0…4
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
template <class Shape>
struct input_of;
template <std::int64_t... E>
struct input_of<sample_shape<E...>> {
  using type = Input<E...>;
};
template <class Net, std::size_t K, class Seq>
struct drop_network;
template <class In, class... L, std::size_t K, std::size_t... I>
struct drop_network<Sequential<In, L...>, K, std::index_sequence<I...>> {
  using before = typename edit_network<Sequential<In, L...>, type_list<>, std::make_index_sequence<K>>::type;
  using type = Sequential<typename input_of<typename before::output_shape>::type, type_at_t<K + I, type_list<L...>>...>;
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

// Layers K, K+1, … of Net, taking what layer K−1 gives (the top of a network whose frozen bottom
// ran once over a data set: take_layers_t<Net, K> then drop_layers_t<Net, K> is Net).
template <class Net, std::size_t K>
  requires(Network<Net> && K > 0 && K < Net::layer_count)
using drop_layers_t = typename detail::drop_network<Net, K, std::make_index_sequence<Net::layer_count - K>>::type;

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
// layers [to_first, to_first + count) from `from`'s layers [from_first, from_first + count), entry
// by entry ("3.block.0.weight" of `to` from "(3 − to_first + from_first).block.0.weight").
// Everything is checked before anything is copied: a missing name or a different size throws
// naming the entry, and `to` is left as it was. The two models may differ in precision (values
// are converted); both live on the CPU.
template <class From, class To>
void copy_layers(From& from, std::size_t from_first, To& to, std::size_t to_first, std::size_t count) {
  using S = typename From::element_type;
  using T = typename To::element_type;
  if (from_first + count > From::layer_count || to_first + count > To::layer_count)
    throw error("copy_layers: layers [" + std::to_string(from_first) + ", " + std::to_string(from_first + count) +
                ") into [" + std::to_string(to_first) + ", " + std::to_string(to_first + count) + ") asked, the models have " +
                std::to_string(From::layer_count) + " and " + std::to_string(To::layer_count));
  std::map<std::string, TensorView<S, 1>> source;
  from.visit_parameters([&](const auto& p) { source.emplace(p.name, p.value); });
  from.visit_state([&](const std::string& name, TensorView<S, 1> v) { source.emplace(name, v); });
  std::vector<std::pair<TensorView<S, 1>, TensorView<T, 1>>> copies;
  const auto plan = [&](const std::string& name, TensorView<T, 1> v) {
    const std::size_t layer = detail::top_level_index(name);
    if (layer < to_first || layer >= to_first + count) return;
    const auto dot = name.find('.');
    const std::string source_name =
        std::to_string(layer - to_first + from_first) + (dot == std::string::npos ? "" : name.substr(dot));
    const auto it = source.find(source_name);
    if (it == source.end())
      throw error("copy_layers: '" + name + "' has no counterpart '" + source_name + "' in the source model (" +
                  From::signature() + ")");
    if (it->second.size() != v.size())
      throw error("copy_layers: '" + name + "' has " + std::to_string(v.size()) + " values, the source's " +
                  (source_name == name ? "" : "'" + source_name + "' ") + std::to_string(it->second.size()));
    copies.emplace_back(it->second, v);
  };
  to.visit_parameters([&](const auto& p) { plan(p.name, p.value); });
  to.visit_state([&](const std::string& name, TensorView<T, 1> v) { plan(name, v); });
  for (auto& [s, d] : copies)
    for (std::int64_t i = 0; i < d.size(); ++i) d.data()[i] = T(s.data()[i]);
}

// Layers [0, layers) of `to` from the same layers of `from` (see copy_layers).
template <class From, class To>
void copy_shared_parameters(From& from, To& to, std::size_t layers) {
  if (layers > To::layer_count || layers > From::layer_count)
    throw error("copy_shared_parameters: " + std::to_string(layers) + " layers asked, the models have " +
                std::to_string(From::layer_count) + " and " + std::to_string(To::layer_count));
  copy_layers(from, 0, to, 0, layers);
}

}  // namespace strata
