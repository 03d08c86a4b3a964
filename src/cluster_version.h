/*
 * ngx_cluster_module: the module's own version.
 */

#ifndef CLUSTER_VERSION_H
#define CLUSTER_VERSION_H


#define CLUSTER_VERSION  "0.1.0"


#endif /* CLUSTER_VERSION_H */
