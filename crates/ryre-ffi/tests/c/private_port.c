/* Prints ryre_private_port(): a port for a private group of nodes, for shell scripts. */
#include "ryre.h"
#include <stdio.h>
int main(void){printf("%d\n", ryre_private_port());return 0;}
