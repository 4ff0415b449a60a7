package bgjob

import "container/heap"

// jobQueue holds the jobs waiting for a worker when WithMaxRunning jobs
// run: highest priority first, then first started. It is a heap, so that
// adding and taking cost log n however long the queue grows, and each job
// knows its index, so that a canceled job leaves from the middle in log n
// too. It counts its jobs by priority, so that a new job's place costs the
// number of priorities in use, not the length of the queue. Guarded by
// Runner.mu.
type jobQueue struct {
	heap       jobHeap
	byPriority map[int]int
}

func (q *jobQueue) len() int { return len(q.heap) }

func (q *jobQueue) add(j *job) {
	heap.Push(&q.heap, j)
	if q.byPriority == nil {
		q.byPriority = make(map[int]int)
	}
	q.byPriority[j.priority]++
}

func (q *jobQueue) next() *job {
	j := heap.Pop(&q.heap).(*job)
	q.forget(j)
	return j
}

func (q *jobQueue) remove(j *job) {
	heap.Remove(&q.heap, j.queueIndex)
	q.forget(j)
}

func (q *jobQueue) forget(j *job) {
	if q.byPriority[j.priority]--; q.byPriority[j.priority] == 0 {
		delete(q.byPriority, j.priority)
	}
}

// position returns the place in the queue of j, the job added last: 1 if
// it leaves next. The jobs before it are those of higher priority and
// those of its own, which all came earlier.
func (q *jobQueue) position(j *job) int {
	n := 0
	for p, count := range q.byPriority {
		if p >= j.priority {
			n += count
		}
	}
	return n
}

type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }

func (h jobHeap) Less(a, b int) bool { return h[a].before(h[b]) }

func (h jobHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].queueIndex = a
	h[b].queueIndex = b
}

func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.queueIndex = len(*h)
	*h = append(*h, j)
}

func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	j.queueIndex = -1
	*h = old[:len(old)-1]
	return j
}

// before reports whether j leaves the queue before k.
func (j *job) before(k *job) bool {
	if j.priority != k.priority {
		return j.priority > k.priority
	}
	return j.order < k.order
}
