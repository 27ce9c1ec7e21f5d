// strata/parallel/checkpoint.hpp — checkpoints in data-parallel training: rank 0 writes the model
// file (every rank holds the same weights), every rank gets what rank 0 reads (one read, then a
// broadcast: no shared file system needed). A failure on rank 0 reaches every rank as the same
// error, so no rank waits for a file that will not come.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <span>
#include <string>

#include "strata/core/error.hpp"
#include "strata/io/model_file.hpp"
#include "strata/parallel/communicator.hpp"
#include "strata/parallel/data_parallel.hpp"

namespace strata::parallel {

namespace detail {
// Rank 0's outcome on every rank: nothing when it succeeded, else its message, thrown everywhere.
inline void share_outcome(communicator& comm, const std::string& failure, const std::string& what) {
  std::int64_t length = static_cast<std::int64_t>(failure.size());
  comm.broadcast(std::as_writable_bytes(std::span<std::int64_t>(&length, 1)), 0);
  if (length == 0) return;
  std::string message = comm.rank() == 0 ? failure : std::string(static_cast<std::size_t>(length), ' ');
  comm.broadcast(std::as_writable_bytes(std::span<char>(message.data(), message.size())), 0);
  throw error(what + " (on rank 0): " + message);
}
}  // namespace detail

// Rank 0 saves `model` to `path` (strata's model file); the others wait until it is written.
template <class Model>
void save_checkpoint(communicator& comm, Model& model, const std::filesystem::path& path) {
  std::string failure;
  if (comm.rank() == 0) {
    try {
      model.save(path);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  detail::share_outcome(comm, failure, "save_checkpoint " + path.string());
}

// Rank 0 loads `path` into its model and sends every parameter and state tensor to the other
// ranks, whose models must have the same architecture and precision.
template <class Model>
void load_checkpoint(communicator& comm, Model& model, const std::filesystem::path& path) {
  std::string failure;
  if (comm.rank() == 0) {
    try {
      model.load(path);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  detail::share_outcome(comm, failure, "load_checkpoint " + path.string());
  broadcast_model(comm, model, 0);
}

}  // namespace strata::parallel
