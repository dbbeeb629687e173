kubectl get machines -n $CLUSTER_NAMESPACE
