"""edge-ser training: corpora, preprocessing, augmentation, Keras members, evaluation."""
