// What the README's training and augmentation fragments rely on (tests/readme/check_snippets.py
// compiles each as the body of a function after this header).
#pragma once

#include <strata/augment/affine.hpp>
#include <strata/augment/compose.hpp>
#include <strata/augment/crop.hpp>
#include <strata/augment/flip.hpp>
#include <strata/augment/noise.hpp>
#include <strata/data/dataset.hpp>
#include <strata/data/idx.hpp>
#include <strata/data/loader.hpp>
#include <strata/io/model_file.hpp>
#include <strata/net/inference.hpp>
#include <strata/net/model.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>
#include <strata/zoo/fashion_net.hpp>

using namespace strata;

extern Model<zoo::FashionNet<>> model;
extern train::SGD<float> sgd;
extern const decltype(train::constant(0.1)) schedule;
extern const data::labelled_images train_set, test_set;
extern Tensor<float, 2> batch;
