export CLUSTER_NAMESPACE="tkg-cluster-ns"
kubectl get clusters -n $CLUSTER_NAMESPACE
