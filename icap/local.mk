# The ICAP service module (srv_egress.so); filled in with the module.
