"""Rig profiles: what each LSL stream of a lab carries, and the defaults without one."""
