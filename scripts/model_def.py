"""The network (training only; the tool runs its ONNX export).

Every slot is a bag of hashed context features: summed embeddings, then an MLP, give a
slot vector ``h``. ``h`` scores the fixed label vocabulary with one linear layer, and each
visible-name candidate through a small MLP over ``h`` plus the candidate's embedding (its
own features and its pair features with the slot). One softmax runs over both.
"""

from __future__ import annotations

import torch
from torch import nn


class TypeModel(nn.Module):  # type: ignore[misc]
    def __init__(
        self, buckets: int, vocab_size: int, dim: int = 64, hidden: int = 256, pair: int = 128
    ) -> None:
        super().__init__()
        # Sparse gradients: a batch touches a few thousand of the hashed rows, and a dense
        # update of the whole table would cost more than the rest of the step.
        self.embedding = nn.Embedding(buckets, dim, padding_idx=0, sparse=True)
        self.slot_mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.dropout = nn.Dropout(0.2)
        # Names are project-specific: dropping some of a slot's features in training makes
        # the network use all of its evidence instead of memorising one telling name.
        self.feature_dropout = 0.15
        self.vocab_out = nn.Linear(hidden, vocab_size)
        self.cand_from_slot = nn.Linear(hidden, pair)
        self.cand_proj = nn.Linear(dim, pair)
        self.pair_proj = nn.Linear(dim, pair, bias=False)
        self.cand_out = nn.Linear(pair, 1)
        nn.init.normal_(self.embedding.weight, std=0.05)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def bag(self, ids: torch.Tensor) -> torch.Tensor:
        """Sum of embeddings over the last axis, scaled by the root of the bag's size."""
        vectors = self.embedding(ids).sum(dim=-2)
        count = (ids > 0).sum(dim=-1, keepdim=True).clamp(min=1).to(vectors.dtype)
        return vectors / torch.sqrt(count)

    def forward(
        self,
        features: torch.Tensor,  # [S, F] int64
        cand_static: torch.Tensor,  # [M, C, G] int64
        cand_mask: torch.Tensor,  # [M, C] float: 1 = padding
        slot_module: torch.Tensor,  # [S] int64
        pair_index: torch.Tensor,  # [P, 2] int64: (slot, candidate)
        pair_ids: torch.Tensor,  # [P, G] int64
    ) -> torch.Tensor:
        if self.training and self.feature_dropout > 0:
            keep = torch.rand(features.shape) >= self.feature_dropout
            features = features * keep.to(features.dtype)
        h = self.dropout(self.slot_mlp(self.bag(features)))
        vocab_logits = self.vocab_out(h)
        # Candidates are projected once per module, then copied to each of its slots.
        static = self.cand_proj(self.embedding(cand_static).sum(dim=2))  # [M, C, H]
        grid = torch.index_select(static, 0, slot_module)  # [S, C, H]
        # Pair features are sparse: project the P related (slot, candidate) rows and add
        # them into the grid (a scatter-add; padding rows add zeros).
        pair = self.pair_proj(self.embedding(pair_ids).sum(dim=1))  # [P, H]
        candidates = grid.shape[1]
        flat = pair_index[:, 0] * candidates + pair_index[:, 1]
        grid = grid.reshape(-1, grid.shape[2]).index_add(0, flat, pair).reshape(grid.shape)
        joint = torch.relu(grid + self.cand_from_slot(h).unsqueeze(1))
        cand_logits = self.cand_out(joint).squeeze(-1)
        cand_logits = cand_logits - 1e4 * torch.index_select(cand_mask, 0, slot_module)
        return torch.cat([vocab_logits, cand_logits], dim=1)
