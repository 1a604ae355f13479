"""A text classifier: embedding, a two-layer LSTM, the last step's output, a linear head."""

from torch import nn

VOCAB = 50


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size=VOCAB, embed_dim=16, hidden_dim=24, num_classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, num_layers=2, batch_first=True, dropout=0.1)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, text):
        embedded = self.embedding(text)
        output, (hidden, cell) = self.lstm(embedded)  # noqa: RUF059
        last = output[:, -1, :]
        return self.fc(self.dropout(last))


def build():
    return LSTMClassifier()


INPUTS = [(2, 12)]
