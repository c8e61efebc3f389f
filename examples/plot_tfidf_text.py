"""
A TF-IDF text pipeline on sparse X
==================================

scikit-learn's :class:`~sklearn.feature_extraction.text.TfidfVectorizer` turns
text into a sparse CSR matrix, and :class:`nnbp.MLPClassifier` trains on it as
it is: only the first layer reads X, from its nonzeros, and X is never
densified. The corpus is made here, from a few words of each topic, so the
example needs no download.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import nnbp

TOPICS = {
    "astronomy": "star galaxy orbit planet telescope comet nebula moon solar eclipse",
    "cooking": "oven recipe flour butter simmer garlic sauce bake onion pepper",
    "football": "goal striker referee penalty league match keeper tackle pitch corner",
    "finance": "stock bond market interest dividend inflation bank loan equity yield",
}
COMMON = ("the a of and to in is it that was for on with as at by this from "
          "new year people time week report").split()


def corpus(documents_per_topic, rng):
    """Short documents: common words, and a few words of their topic."""
    texts, labels = [], []
    for topic, words in TOPICS.items():
        words = words.split()
        for _ in range(documents_per_topic):
            n_topic = rng.integers(2, 5)
            document = list(rng.choice(words, n_topic)) + list(rng.choice(COMMON, 12))
            rng.shuffle(document)
            texts.append(" ".join(document))
            labels.append(topic)
    return texts, np.array(labels)


texts, labels = corpus(150, np.random.default_rng(0))
print(texts[0], "->", labels[0])
texts_train, texts_test, y_train, y_test = train_test_split(texts, labels, random_state=0,
                                                            stratify=labels)

# %%
# The vectorizer's output is a scipy CSR matrix; the pipeline hands it to nnbp as it is.
model = make_pipeline(TfidfVectorizer(),
                      nnbp.MLPClassifier(hidden_layer_sizes=(32,), max_iter=60,
                                         learning_rate_init=0.01, random_state=0))
model.fit(texts_train, y_train)
X_test = model[0].transform(texts_test)
print(f"X: {type(X_test).__name__} of shape {X_test.shape}, density {X_test.nnz / np.prod(X_test.shape):.1%}")
print(f"held-out accuracy {model.score(texts_test, y_test):.1%}")
print(model.predict(["the bank raised interest on the loan", "garlic and onion in the sauce"]))

# %%
# The same network on the densified matrix gives the same probabilities, to
# round-off: the sparse path is the dense arithmetic, on the nonzeros only.
mlp = model[-1]
sparse_proba = mlp.predict_proba(X_test)
dense_proba = mlp.predict_proba(X_test.toarray())
print(f"largest difference, sparse against dense: {np.abs(sparse_proba - dense_proba).max():.1e}")

# %%
# The words that push each topic's output up most, read from the product of the
# two weight matrices: the network's linear part, each relu's slope taken as 1.
vocabulary = np.array(model[0].get_feature_names_out())
influence = mlp.coefs_[0] @ mlp.coefs_[1]          # words x topics, the linear part
figure, axes = plt.subplots(1, len(mlp.classes_), figsize=(11, 3))
for ax, k in zip(axes, range(len(mlp.classes_))):
    top = np.argsort(influence[:, k])[-6:]
    ax.barh(vocabulary[top], influence[top, k])
    ax.set_title(mlp.classes_[k])
figure.tight_layout()
