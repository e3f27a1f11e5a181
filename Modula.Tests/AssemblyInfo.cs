// Tests share devices and assert on their live-byte counters, so they run one at a time.
[assembly: DoNotParallelize]
