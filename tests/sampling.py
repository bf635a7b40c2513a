"""Sampler settings for the tests that really sample: sampling takes well under a second
(compiling dominates), so there is no reason to sample less than `forecast fit` does."""

TEST_DRAWS = 1000
TEST_TUNE = 1500
