// Training options (config section `train`).
#pragma once

namespace recprism {

struct TrainOptions {
  double lr = 1e-3;           // peak learning rate (AdamW)
  double weight_decay = 0.0;  // AdamW decoupled weight decay
  int batch_size = 256;       // samples per rank per step
  int epochs = 1;             // passes over the training split
};

}  // namespace recprism
