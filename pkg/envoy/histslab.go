package envoy

import (
	"slices"
	"sort"
)

// histSlabChunk is how many buckets a histSlab allocates at a time.
const histSlabChunk = 4096

// histSlab hands out the bucket arrays of one page's histograms from a few shared
// allocations instead of two per histogram: counts from chunks, each histogram its own
// part; bounds equal to the previous histogram's (as Envoy's are, page-wide) are that
// histogram's, shared. So its histograms are read-only. A nil *histSlab allocates every
// histogram's arrays on their own. Not safe for concurrent use.
type histSlab struct {
	bounds []float64 // free space for new bounds
	counts []uint64  // free space for counts
	last   []float64 // the bounds handed out last
}

// histogram returns les and counts sorted by bound, copied into the slab; nil for none.
func (s *histSlab) histogram(les []float64, counts []uint64) ([]float64, []uint64) {
	if len(les) == 0 {
		return nil, nil
	}
	if s == nil {
		b, c := make([]float64, len(les)), make([]uint64, len(counts))
		copy(b, les)
		copy(c, counts)
		sortBuckets(b, c)
		return b, c
	}
	n := len(les)
	if len(s.counts) < n {
		s.counts = make([]uint64, max(n, histSlabChunk))
	}
	if len(s.bounds) < n {
		s.bounds = make([]float64, max(n, histSlabChunk))
	}
	b, c := s.bounds[:n:n], s.counts[:n:n]
	copy(b, les)
	copy(c, counts)
	sortBuckets(b, c)
	s.counts = s.counts[n:]
	if slices.Equal(b, s.last) {
		return s.last, c // b's space is free again
	}
	s.bounds = s.bounds[n:]
	s.last = b
	return b, c
}

// sortBuckets sorts bounds ascending and counts with them; Envoy writes them sorted, so
// that is checked first.
func sortBuckets(bounds []float64, counts []uint64) {
	for i := 1; i < len(bounds); i++ {
		if bounds[i] < bounds[i-1] {
			sort.Sort(buckets{bounds, counts})
			return
		}
	}
}

// buckets sorts bounds and their counts together.
type buckets struct {
	bounds []float64
	counts []uint64
}

func (b buckets) Len() int           { return len(b.bounds) }
func (b buckets) Less(i, j int) bool { return b.bounds[i] < b.bounds[j] }
func (b buckets) Swap(i, j int) {
	b.bounds[i], b.bounds[j] = b.bounds[j], b.bounds[i]
	b.counts[i], b.counts[j] = b.counts[j], b.counts[i]
}
