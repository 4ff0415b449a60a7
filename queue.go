package bgjob

import "container/heap"

// jobQueue holds the jobs waiting for a worker when WithMaxRunning jobs
// run: highest priority first, then first started. It is a heap, so that
// adding and taking cost log n however long the queue grows, and each job
// knows its index, so that a canceled job leaves from the middle in log n
// too. Guarded by Runner.mu.
type jobQueue []*job

func (q jobQueue) Len() int { return len(q) }

func (q jobQueue) Less(a, b int) bool { return q[a].before(q[b]) }

func (q jobQueue) Swap(a, b int) {
	q[a], q[b] = q[b], q[a]
	q[a].queueIndex = a
	q[b].queueIndex = b
}

func (q *jobQueue) Push(x any) {
	j := x.(*job)
	j.queueIndex = len(*q)
	*q = append(*q, j)
}

func (q *jobQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	old[len(old)-1] = nil
	j.queueIndex = -1
	*q = old[:len(old)-1]
	return j
}

// before reports whether j leaves the queue before k.
func (j *job) before(k *job) bool {
	if j.priority != k.priority {
		return j.priority > k.priority
	}
	return j.order < k.order
}

func (q *jobQueue) add(j *job) { heap.Push(q, j) }

func (q *jobQueue) next() *job { return heap.Pop(q).(*job) }

func (q *jobQueue) remove(j *job) { heap.Remove(q, j.queueIndex) }

// position returns j's place in the queue: 1 if it leaves next.
func (q jobQueue) position(j *job) int {
	n := 1
	for _, k := range q {
		if k.before(j) {
			n++
		}
	}
	return n
}
