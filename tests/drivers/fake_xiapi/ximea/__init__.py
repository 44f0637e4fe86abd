"""Test double of XIMEA's `ximea` package: only `ximea.xiapi`, written for melab's tests."""
