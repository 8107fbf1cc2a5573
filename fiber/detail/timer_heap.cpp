#include <fiber/detail/timer_heap.hpp>

namespace fiber::detail {

void timer_heap::push(timer_node* n) {
  heap_.push_back(n);
  n->index = heap_.size() - 1;
  sift_up(n->index);
}

void timer_heap::remove(timer_node* n) noexcept {
  if (n->index == timer_node::npos) return;
  std::size_t i = n->index;
  n->index = timer_node::npos;
  timer_node* last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  place(i, last);
  sift_up(i);
  sift_down(last->index);
}

std::size_t timer_heap::fire_due(clock::time_point now) noexcept {
  std::size_t fired = 0;
  while (!heap_.empty() && heap_.front()->deadline <= now) {
    timer_node* n = heap_.front();
    remove(n);
    unpark(n->token, wake_reason::timeout);
    ++fired;
  }
  return fired;
}

void timer_heap::sift_up(std::size_t i) noexcept {
  timer_node* n = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!(n->deadline < heap_[parent]->deadline)) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, n);
}

void timer_heap::sift_down(std::size_t i) noexcept {
  timer_node* n = heap_[i];
  const std::size_t size = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && heap_[child + 1]->deadline < heap_[child]->deadline) ++child;
    if (!(heap_[child]->deadline < n->deadline)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, n);
}

}  // namespace fiber::detail
