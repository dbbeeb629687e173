export KUBECONFIG=$SUPERVISOR_KUBECONFIG
kubectl config current-context
kubectl get kcp  -n $CLUSTER_NAMESPACE $CLUSTER_NAME-control-plane -o jsonpath='{.apiVersion}{"\n"}'
kubectl get kcp -n $CLUSTER_NAMESPACE $CLUSTER_NAME-control-plane
