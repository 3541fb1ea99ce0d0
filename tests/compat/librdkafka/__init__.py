"""librdkafka's own integration tests against a 3-node kraft cluster.

``suite`` reads librdkafka's test table and kraft's list of excluded tests and plans the runs (pure);
``outcome`` runs one test with a time limit and says how it went; ``__main__`` builds the
test-runner (``compat/librdkafka/build.sh``), starts the cluster, runs the plan and writes the results.
"""
