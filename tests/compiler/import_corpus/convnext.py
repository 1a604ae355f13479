"""ConvNeXt blocks as the paper's code writes them: depthwise 7x7, permutes, LayerNorm, layer scale."""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim, layer_scale_init_value=1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones((dim)), requires_grad=True)  # noqa: UP034

    def forward(self, x):
        input = x
        x = self.dwconv(x)
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = self.norm(x)
        x = self.pwconv1(x)
        x = self.act(x)
        x = self.pwconv2(x)
        x = self.gamma * x
        x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        return input + x


class ChannelsFirstNorm(nn.Module):
    """LayerNorm over channels of an image, written with permutes."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, num_classes=10, dims=(16, 32)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), ChannelsFirstNorm(dims[0]))
        self.stage1 = nn.Sequential(Block(dims[0]), Block(dims[0]))
        self.downsample = nn.Sequential(ChannelsFirstNorm(dims[0]), nn.Conv2d(dims[0], dims[1], 2, stride=2))
        self.stage2 = nn.Sequential(Block(dims[1]))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)
        with torch.no_grad():  # trained-looking layer scales, so a wrong mapping shows
            for block in (*self.stage1, *self.stage2):
                block.gamma.uniform_(0.5, 1.5)

    def forward(self, x):
        x = self.stage2(self.downsample(self.stage1(self.stem(x))))
        x = self.norm(x.mean([-2, -1]))  # global average pooling, (N, C, H, W) -> (N, C)
        return self.head(x)


def build():
    return ConvNeXt()


INPUTS = [(2, 3, 32, 32)]
