package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts latencies in logarithmic buckets, HDR style: values
// below 2·sub nanoseconds exactly, larger ones with sub buckets per power
// of two, so every bucket is within 1/sub (1.6 %) of the values in it.
// Recording is an array increment: no allocation, no stored samples, one
// histogram per client goroutine, merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	min    time.Duration
	max    time.Duration
}

const (
	subBits = 6
	sub     = 1 << subBits
	// maxExp bounds the values kept: 2^(maxExp+subBits+1) ns is about 38
	// minutes; anything longer lands in the last bucket.
	maxExp      = 34
	histBuckets = (maxExp+1)*sub + sub
)

func bucketOf(v uint64) int {
	if v < 2*sub {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [sub, 2·sub)
	if e > maxExp {
		return histBuckets - 1
	}
	return e*sub + int(v>>e)
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*sub {
		return uint64(i), 1
	}
	e := i/sub - 1
	m := uint64(i - e*sub)
	return m << e, 1 << e
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
}

// quantile returns the latency below which a fraction q of the samples
// fall: the middle of the bucket that holds the sample of rank ⌈q·n⌉,
// never more than the largest sample seen.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == histBuckets-1 {
				return h.max
			}
			lo, w := bucketRange(i)
			v := time.Duration(lo + w/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
