"""The core: answers and documentation, walkthroughs, lookup, expiry check and morning post, reminders,
partners, status. Returns dataclasses; imports only the edges below it, never commands or front ends."""
