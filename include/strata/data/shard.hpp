// strata/data/shard.hpp — which rows of a global batch belong to which rank: rank r of R takes
// rows [B·r/R, B·(r+1)/R) of every global batch of B rows, so R ranks together see exactly the
// batches one process sees, in the same order (data::loader's shard, parallel::fit's slices).
#pragma once

#include <cstdint>

namespace strata::data {

// This process's place among the ranks that share each batch (rank 0 of 1: the whole batch).
struct rank_shard {
  int rank = 0;
  int ranks = 1;
};

struct row_range {
  std::int64_t first = 0, count = 0;
};

// Rows [B·r/R, B·(r+1)/R) of a global batch of B rows belong to rank r of R.
inline row_range rows_of(std::int64_t global_rows, int rank, int ranks) {
  const std::int64_t begin = global_rows * rank / ranks, end = global_rows * (rank + 1) / ranks;
  return {begin, end - begin};
}

}  // namespace strata::data
