// labelled_images (data/labelled_images.hpp): first(n) copies the first n images and labels with
// the class count, clamps n to the set, and leaves the set it came from as it was.
#include "strata/data/labelled_images.hpp"
#include "support/testing.hpp"

using namespace strata;

TEST_CASE("labelled_images::first copies the first n examples and clamps n to the set", "[data]") {
  data::labelled_images set;
  set.images = Tensor<float, 4>(Shape{5, 1, 2, 3});
  set.labels = Tensor<std::int32_t, 1>(Shape<1>{5});
  for (std::int64_t i = 0; i < set.images.size(); ++i) set.images.data()[i] = float(i);
  for (std::int64_t i = 0; i < 5; ++i) set.labels(i) = std::int32_t(4 - i);
  set.classes = 7;

  const data::labelled_images head = set.first(3);
  REQUIRE(head.size() == 3);
  CHECK(head.images.shape() == Shape{3, 1, 2, 3});
  CHECK(head.classes == 7);
  for (std::int64_t i = 0; i < head.images.size(); ++i) CHECK(head.images.data()[i] == float(i));
  CHECK(head.labels(2) == 2);
  set.images.data()[0] = -1.0f;  // a copy, not a view of the set
  CHECK(head.images.data()[0] == 0.0f);

  CHECK(set.first(99).size() == 5);
  CHECK(set.first(0).size() == 0);
  CHECK(set.first(-3).size() == 0);
}
