include "../include_cycle.nas"
