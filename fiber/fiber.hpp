// fiber.hpp — umbrella header of weft's core: fibers, the runtime, identity, sleeping, locals.
#pragma once

#include <fiber/blocking.hpp>
#include <fiber/debug.hpp>
#include <fiber/fiber_id.hpp>
#include <fiber/fiber_local.hpp>
#include <fiber/runtime.hpp>
#include <fiber/spawn.hpp>
#include <fiber/this_fiber.hpp>
#include <fiber/thread.hpp>
