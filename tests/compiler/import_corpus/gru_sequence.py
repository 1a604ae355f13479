"""A sequence model: a bidirectional GRU over feature vectors, per-step scores and a summary."""

import torch
from torch import nn


class GRUTagger(nn.Module):
    def __init__(self, features=6, hidden=10, tags=4):
        super().__init__()
        self.encoder = nn.GRU(features, hidden, batch_first=True, bidirectional=True)
        self.tagger = nn.Linear(2 * hidden, tags)
        self.summary = nn.GRU(2 * hidden, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        steps, _ = self.encoder(x)
        tags = torch.log_softmax(self.tagger(steps), dim=-1)
        _, h_n = self.summary(steps)
        score = torch.sigmoid(self.head(h_n[-1]))
        return tags, score


def build():
    return GRUTagger()


INPUTS = [(2, 9, 6)]
