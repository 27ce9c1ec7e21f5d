// What the README's parallel-training fragments rely on (tests/readme/check_snippets.py compiles
// each as the body of a function after this header).
#pragma once

#include <strata/augment/flip.hpp>
#include <strata/data/dataset.hpp>
#include <strata/data/idx.hpp>
#include <strata/data/loader.hpp>
#include <strata/net/model.hpp>
#include <strata/parallel/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>
#include <strata/zoo/fashion_net.hpp>

using namespace strata;

extern Model<zoo::FashionNet<>> model;
extern train::SGD<float> sgd;
extern const decltype(train::constant(0.1)) schedule;
extern const data::labelled_images train_set;
extern parallel::communicator& comm;
