// Model options (config section `model`).
#pragma once

namespace recprism {

struct ModelOptions {
  int d_model = 64;       // embedding and transformer width
  int num_heads = 2;      // attention heads; must divide d_model
  int num_layers = 2;     // transformer encoder layers
  double dropout = 0.1;   // dropout probability in the encoder and heads
};

}  // namespace recprism
