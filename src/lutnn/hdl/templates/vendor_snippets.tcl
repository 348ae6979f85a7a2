//@ vivado_source
read_verilog [file join $here {{file}}]
//@ quartus_source
set_global_assignment -name VERILOG_FILE [file join $here {{file}}]
//@ quartus_virtual_pin
  {{pin}}
