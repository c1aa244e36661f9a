"""Fakes and the reference proxy: real HTTP services the local stack runs."""
