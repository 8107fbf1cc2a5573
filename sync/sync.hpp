// sync.hpp — umbrella header of weft's sync/ layer: fiber-aware twins of the std synchronization
// types (they park fibers and block plain OS threads, in any mix) plus channels, select and
// wait groups. See each header for semantics, fairness and misuse reporting.
#pragma once

#include <sync/barrier.hpp>
#include <sync/call_once.hpp>
#include <sync/channel.hpp>
#include <sync/condition_variable.hpp>
#include <sync/future.hpp>
#include <sync/latch.hpp>
#include <sync/mutex.hpp>
#include <sync/select.hpp>
#include <sync/semaphore.hpp>
#include <sync/shared_mutex.hpp>
#include <sync/wait_group.hpp>
