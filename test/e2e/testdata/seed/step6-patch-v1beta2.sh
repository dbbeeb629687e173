kubectl patch kcp $CLUSTER_NAME-control-plane -n $CLUSTER_NAMESPACE --type merge -p "{\"spec\":{\"rollout\":{\"after\":\"`date +'%Y-%m-%dT%TZ'`\"}}}"
