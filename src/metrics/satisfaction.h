// User-satisfaction ("beyond accuracy") metrics of top-K recommendation lists, finalized from
// merged exposure counts (STYLE.md §2: merge counts, then divide).
//
// Inputs, all over one global item catalogue (index i) and one list cut-off K:
//   exposures[i]   number of users whose top-K list holds item i (weighted in a replicate);
//   popularity[i]  the item's popularity: users who clicked it in the evaluated data;
//   users          users that received a list (weighted); population: users in the data.
// Definitions (docs/metrics.md):
//   coverage          items with exposure > 0 / catalogue size;
//   gini              Gini index of exposure over every catalogue item (0 = equal exposure);
//   entropy           Shannon entropy of the exposure distribution, in bits;
//   novelty           mean self-information of recommended items, -log2((pop + 1) / (population + 1))
//                     (Zhou et al., 2010; Laplace-smoothed so unclicked items are finite);
//   mean_popularity   mean popularity of recommended items (popularity bias);
//   long_tail_share   share of exposures on items outside the head, the head being the 20% most
//                     popular catalogue items;
//   personalization   1 - mean overlap |L_u ∩ L_v| / K over pairs of users, computed exactly as
//                     sum_i e_i (e_i - 1) / 2 pairs sharing item i, no all-pairs matrix.
#pragma once

#include <cstdint>
#include <vector>

namespace recprism::metrics {

struct SatisfactionResult {
  double coverage = 0, gini = 0, entropy = 0, novelty = 0, mean_popularity = 0, long_tail_share = 0;
  double personalization = 0;
};

// head_mask[i] = 1 for the head items (see HeadMask); population = users in the data.
SatisfactionResult FinalizeSatisfaction(const std::vector<double>& exposures, const std::vector<double>& popularity,
                                        const std::vector<uint8_t>& head_mask, double users, double population,
                                        int64_t k);

// The 20% most popular items (ties by index) as a 0/1 mask.
std::vector<uint8_t> HeadMask(const std::vector<double>& popularity, double head_share = 0.2);

// Intra-list diversity of one list: mean over pairs of items of 1 - Jaccard(categories), where
// each item's categories are a sorted set of ids. NaN for lists of fewer than 2 items.
double IntraListDiversity(const std::vector<const std::vector<uint64_t>*>& item_categories);

}  // namespace recprism::metrics
