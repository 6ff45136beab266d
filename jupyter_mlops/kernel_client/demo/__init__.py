"""The Voila demo classifier: the deployed model, live, classifying dropped images."""
