"""Statistics shared by the analysis and the decisions: the log histogram
(:mod:`.histogram`), intervals and sample sizes (:mod:`.intervals`) and the block
bootstrap (:mod:`.bootstrap`)."""
