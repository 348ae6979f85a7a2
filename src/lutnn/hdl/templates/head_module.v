// {{title}}
module {{module}} (
{{clk_port}}  input  wire [{{in_msb}}:0] x,
{{scores_port}}  output wire [{{class_msb}}:0] cls
);
{{body}}
endmodule
