//! Turning what the probes recorded into rows: kernel stack symbolization and the
//! classification of sampled stacks into copy stages.
