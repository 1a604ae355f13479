"""MobileNet V3-style inverted residuals: depthwise convolutions, squeeze-excitation, Hardswish."""

import torch.nn.functional as F
from torch import nn


class SqueezeExcitation(nn.Module):
    def __init__(self, input_channels, squeeze_channels):
        super().__init__()
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = self.relu(self.fc1(scale))
        scale = F.hardsigmoid(self.fc2(scale))
        return x * scale


class InvertedResidual(nn.Module):
    def __init__(self, inp, hidden, out, stride, use_se, activation):
        super().__init__()
        self.use_res_connect = stride == 1 and inp == out
        layers = [
            nn.Conv2d(inp, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            activation(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            activation(),
        ]
        if use_se:
            layers.append(SqueezeExcitation(hidden, max(hidden // 4, 8)))
        layers += [nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        result = self.block(x)
        if self.use_res_connect:
            result = result + x
        return result


class MobileNetV3(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False),
            nn.BatchNorm2d(16, eps=0.001, momentum=0.01),
            nn.Hardswish(),
            InvertedResidual(16, 16, 16, 1, True, nn.ReLU),
            InvertedResidual(16, 48, 24, 2, False, nn.ReLU6),
            InvertedResidual(24, 72, 24, 1, True, nn.Hardswish),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(24, 64),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=0.2, inplace=True),
            nn.Linear(64, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = x.flatten(1)
        return self.classifier(x)


def build():
    return MobileNetV3()


INPUTS = [(2, 3, 32, 32)]
