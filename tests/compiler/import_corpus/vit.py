"""A small Vision Transformer: patch embedding, class token, position embedding, pre-norm blocks."""

import torch
from torch import nn


class MLP(nn.Sequential):
    def __init__(self, dim, hidden, dropout=0.0):
        super().__init__(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )


class EncoderBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_dim):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, mlp_dim)

    def forward(self, input):
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = x + input
        y = self.ln_2(x)
        y = self.mlp(y)
        return x + y


class VisionTransformer(nn.Module):
    def __init__(self, image_size=16, patch_size=4, dim=32, depth=2, num_heads=4, num_classes=10):
        super().__init__()
        self.patch_size = patch_size
        self.conv_proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)
        seq_length = (image_size // patch_size) ** 2
        self.class_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length + 1, dim).normal_(std=0.02))
        self.layers = nn.Sequential(*[EncoderBlock(dim, num_heads, 2 * dim) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.conv_proj(x)  # (n, dim, h, w)
        x = x.flatten(2).transpose(1, 2)  # (n, h * w, dim)
        n = x.shape[0]
        batch_class_token = self.class_token.expand(n, -1, -1)
        x = torch.cat([batch_class_token, x], dim=1)
        x = x + self.pos_embedding
        x = self.ln(self.layers(x))
        x = x[:, 0]
        return self.head(x)


def build():
    return VisionTransformer()


INPUTS = [(2, 3, 16, 16)]
