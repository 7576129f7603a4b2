"""Statistics shared by the analysis and the decisions.

* :mod:`.histogram`: the log-bucketed histogram (buckets about 1% wide);
* :mod:`.quantiles`: quantiles of histograms by the documented type-7 rule;
* :mod:`.batches`: variances over blocks of consecutive ticks (bursts allowed);
* :mod:`.intervals`: quantile, ratio and rate intervals built on those;
* :mod:`.multiplicity`: Holm's step-down;
* :mod:`.sequential`: confidence sequences for repeated looks;
* :mod:`.sample_size`: how many ticks would decide.
"""
